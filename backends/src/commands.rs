//! `active_cmd` / `inactive_cmd`: an operator's command run without a shell, with a timeout.

use async_trait::async_trait;
use piranha_engine::ports::{CommandExit, Commands, PortError};
use piranha_engine::time::Duration;

use crate::probe::run_program;

/// The real [`Commands`] port.
#[derive(Debug, Default, Clone, Copy)]
pub struct ProcessCommands;

#[async_trait]
impl Commands for ProcessCommands {
    async fn run(&self, argv: &[String], timeout: Duration) -> Result<CommandExit, PortError> {
        let deadline = tokio::time::Instant::now() + timeout.to_std();
        match run_program(argv, deadline).await {
            Ok((code, _stdout)) => Ok(CommandExit { code }),
            Err(e) => Err(PortError {
                what: format!("run {}", argv.join(" ")),
                reason: e.to_string(),
                errno: e.raw_os_error(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn exit_codes_and_missing_programs() {
        let c = ProcessCommands;
        let t = Duration::from_millis(2000);
        assert_eq!(c.run(&["true".into()], t).await.unwrap().code, Some(0));
        assert_eq!(c.run(&["false".into()], t).await.unwrap().code, Some(1));
        let e = c.run(&["/nonexistent/cmd".into()], t).await.unwrap_err();
        assert_eq!(e.errno, Some(2));
    }
}
