//! Built-in service names for ports (`port = http`), so parsing never depends on the host's
//! /etc/services. Names and numbers follow the IANA registry as /etc/services lists them.

/// Which transport protocols a service name is registered for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    /// TCP only.
    Tcp,
    /// UDP only.
    Udp,
    /// Both.
    Both,
}

/// `(name, port, transport)`, sorted by port then name.
pub const SERVICES: &[(&str, u16, Transport)] = &[
    ("ftp-data", 20, Transport::Tcp),
    ("ftp", 21, Transport::Tcp),
    ("ssh", 22, Transport::Tcp),
    ("telnet", 23, Transport::Tcp),
    ("smtp", 25, Transport::Tcp),
    ("time", 37, Transport::Both),
    ("domain", 53, Transport::Both),
    ("tftp", 69, Transport::Udp),
    ("gopher", 70, Transport::Tcp),
    ("finger", 79, Transport::Tcp),
    ("http", 80, Transport::Tcp),
    ("www", 80, Transport::Tcp),
    ("kerberos", 88, Transport::Both),
    ("pop3", 110, Transport::Tcp),
    ("sunrpc", 111, Transport::Both),
    ("auth", 113, Transport::Tcp),
    ("nntp", 119, Transport::Tcp),
    ("ntp", 123, Transport::Udp),
    ("imap", 143, Transport::Tcp),
    ("imap2", 143, Transport::Tcp),
    ("snmp", 161, Transport::Udp),
    ("snmp-trap", 162, Transport::Udp),
    ("ldap", 389, Transport::Both),
    ("https", 443, Transport::Both),
    ("microsoft-ds", 445, Transport::Tcp),
    ("urd", 465, Transport::Tcp),
    ("submissions", 465, Transport::Tcp),
    ("syslog", 514, Transport::Udp),
    ("shell", 514, Transport::Tcp),
    ("printer", 515, Transport::Tcp),
    ("heartbeat", 539, Transport::Udp),
    ("submission", 587, Transport::Tcp),
    ("ldaps", 636, Transport::Tcp),
    ("rsync", 873, Transport::Tcp),
    ("ftps", 990, Transport::Tcp),
    ("imaps", 993, Transport::Tcp),
    ("pop3s", 995, Transport::Tcp),
    ("socks", 1080, Transport::Tcp),
    ("openvpn", 1194, Transport::Both),
    ("ms-sql-s", 1433, Transport::Tcp),
    ("radius", 1812, Transport::Udp),
    ("radius-acct", 1813, Transport::Udp),
    ("nfs", 2049, Transport::Both),
    ("mysql", 3306, Transport::Tcp),
    ("piranha", 3636, Transport::Tcp),
    ("sip", 5060, Transport::Both),
    ("postgresql", 5432, Transport::Tcp),
    ("amqp", 5672, Transport::Tcp),
    ("x11", 6000, Transport::Tcp),
    ("redis", 6379, Transport::Tcp),
    ("http-alt", 8080, Transport::Tcp),
    ("webcache", 8080, Transport::Tcp),
    ("memcache", 11211, Transport::Both),
];

/// The port of a service name (exact, case-sensitive, like getservbyname).
pub fn port_of(name: &str) -> Option<u16> {
    SERVICES
        .iter()
        .find(|(n, _, _)| *n == name)
        .map(|&(_, p, _)| p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn well_known() {
        assert_eq!(port_of("http"), Some(80));
        assert_eq!(port_of("https"), Some(443));
        assert_eq!(port_of("smtp"), Some(25));
        assert_eq!(port_of("domain"), Some(53));
        assert_eq!(port_of("mysql"), Some(3306));
        assert_eq!(port_of("postgresql"), Some(5432));
        assert_eq!(port_of("HTTP"), None);
        assert_eq!(port_of("nope"), None);
    }

    #[test]
    fn table_is_sorted_and_names_unique() {
        for w in SERVICES.windows(2) {
            assert!(w[0].1 <= w[1].1, "{:?} before {:?}", w[0], w[1]);
        }
        for (i, a) in SERVICES.iter().enumerate() {
            assert!(
                SERVICES[i + 1..].iter().all(|b| b.0 != a.0),
                "{} twice",
                a.0
            );
        }
    }
}
