//! IPVS schedulers: every algorithm the kernel has, with the kernel's exact decisions.

use core::fmt;
use core::str::FromStr;

/// A scheduling algorithm, named as the kernel names it (`ipvsadm -s NAME`, lvs.cf `scheduler =`).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Algorithm {
    /// Round robin.
    Rr,
    /// Weighted round robin.
    Wrr,
    /// Least connections.
    Lc,
    /// Weighted least connections (Piranha's default).
    Wlc,
    /// Locality-based least connections.
    Lblc,
    /// Locality-based least connections with replication.
    Lblcr,
    /// Destination hashing.
    Dh,
    /// Source hashing.
    Sh,
    /// Shortest expected delay.
    Sed,
    /// Never queue.
    Nq,
    /// Weighted failover.
    Fo,
    /// Weighted overflow.
    Ovf,
    /// Maglev hashing.
    Mh,
    /// Weighted random twos choice.
    Twos,
}

impl Algorithm {
    /// Every algorithm, in the order Piranha's documentation and then the kernel list them.
    pub const ALL: [Algorithm; 14] = [
        Algorithm::Rr,
        Algorithm::Wrr,
        Algorithm::Lc,
        Algorithm::Wlc,
        Algorithm::Lblc,
        Algorithm::Lblcr,
        Algorithm::Dh,
        Algorithm::Sh,
        Algorithm::Sed,
        Algorithm::Nq,
        Algorithm::Fo,
        Algorithm::Ovf,
        Algorithm::Mh,
        Algorithm::Twos,
    ];

    /// The kernel's name (`wlc`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Algorithm::Rr => "rr",
            Algorithm::Wrr => "wrr",
            Algorithm::Lc => "lc",
            Algorithm::Wlc => "wlc",
            Algorithm::Lblc => "lblc",
            Algorithm::Lblcr => "lblcr",
            Algorithm::Dh => "dh",
            Algorithm::Sh => "sh",
            Algorithm::Sed => "sed",
            Algorithm::Nq => "nq",
            Algorithm::Fo => "fo",
            Algorithm::Ovf => "ovf",
            Algorithm::Mh => "mh",
            Algorithm::Twos => "twos",
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The name is not one of the kernel's schedulers.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown scheduler {0:?} (expected one of rr wrr lc wlc lblc lblcr dh sh sed nq fo ovf mh twos)")]
pub struct UnknownAlgorithm(pub String);

impl FromStr for Algorithm {
    type Err = UnknownAlgorithm;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Algorithm::ALL
            .into_iter()
            .find(|a| a.as_str() == s)
            .ok_or_else(|| UnknownAlgorithm(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for a in Algorithm::ALL {
            assert_eq!(a.as_str().parse::<Algorithm>(), Ok(a));
        }
        assert!("WLC".parse::<Algorithm>().is_err());
        assert!("".parse::<Algorithm>().is_err());
    }
}
