//! Codec tests against bytes written out by hand from `ip_vs.h` (not produced by the encoder).

use std::net::{IpAddr, Ipv6Addr};

use super::*;
use crate::ipvs::decode::*;
use piranha_engine::ipvs::listing::ListingInfo;
use piranha_engine::ipvs::{Protocol, ServiceFlags};
use piranha_engine::sched::Algorithm;

fn tcp(addr: &str, port: u16) -> ServiceKey {
    ServiceKey::Addr {
        protocol: Protocol::Tcp,
        addr: addr.parse().unwrap(),
        port,
    }
}

/// A raw TLV, padded to 4 bytes (an independent writer for the decoding tests).
fn tlv(ty: u16, payload: &[u8]) -> Vec<u8> {
    let len = 4 + payload.len();
    let mut out = Vec::new();
    out.extend_from_slice(&(len as u16).to_ne_bytes());
    out.extend_from_slice(&ty.to_ne_bytes());
    out.extend_from_slice(payload);
    while out.len() % 4 != 0 {
        out.push(0);
    }
    out
}

fn nested(ty: u16, parts: &[Vec<u8>]) -> Vec<u8> {
    tlv(ty | 0x8000, &parts.concat())
}

/// A whole netlink message of `nl_type` holding a genl header and `attrs`.
fn nlmsg(nl_type: u16, flags: u16, seq: u32, cmd: u8, attrs: &[u8]) -> Vec<u8> {
    let len = 16 + 4 + attrs.len();
    let mut out = Vec::new();
    out.extend_from_slice(&(len as u32).to_ne_bytes());
    out.extend_from_slice(&nl_type.to_ne_bytes());
    out.extend_from_slice(&flags.to_ne_bytes());
    out.extend_from_slice(&seq.to_ne_bytes());
    out.extend_from_slice(&0u32.to_ne_bytes());
    out.extend_from_slice(&[cmd, 1, 0, 0]);
    out.extend_from_slice(attrs);
    out
}

#[test]
fn add_service_request_is_byte_exact() {
    let svc = Service::new(tcp("10.0.0.1", 80), Algorithm::Wlc);
    let (command, attrs) = op_request(&Op::AddService(svc)).unwrap();
    assert_eq!(command, 1);
    let bytes = request(0x22, 7, command, attrs).unwrap();
    #[rustfmt::skip]
    let want: Vec<u8> = [
        // nlmsghdr: len 104, type 0x22, flags REQUEST|ACK, seq 7, pid 0
        &[104, 0, 0, 0, 0x22, 0, 5, 0, 7, 0, 0, 0, 0, 0, 0, 0][..],
        // genlmsghdr: NEW_SERVICE, version 1
        &[1, 1, 0, 0],
        // SERVICE nest (NLA_F_NESTED), 84 bytes
        &[84, 0, 0x01, 0x80],
        &[6, 0, 1, 0, 2, 0, 0, 0],                       // AF = AF_INET
        &[6, 0, 2, 0, 6, 0, 0, 0],                       // PROTOCOL = TCP
        &[20, 0, 3, 0, 10, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], // ADDR
        &[6, 0, 4, 0, 0, 80, 0, 0],                      // PORT, big-endian
        &[8, 0, 6, 0, b'w', b'l', b'c', 0],              // SCHED_NAME, NUL-terminated
        &[12, 0, 7, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff], // FLAGS {0, mask ~0}
        &[8, 0, 8, 0, 0, 0, 0, 0],                       // TIMEOUT
        &[8, 0, 9, 0, 0xff, 0xff, 0xff, 0xff],           // NETMASK
    ]
    .concat();
    assert_eq!(bytes, want);
}

#[test]
fn persistent_ipv6_service_sends_prefix_length_and_never_hashed() {
    let mut svc = Service::new(tcp("2001:db8::10", 443), Algorithm::Sh);
    svc.flags = ServiceFlags::PERSISTENT
        .with(ServiceFlags::HASHED)
        .with(ServiceFlags::SCHED1);
    svc.timeout_s = 300;
    svc.netmask = 64;
    let nest = service_nest(&svc).unwrap();
    let payload: &[u8] = nest.nla_payload().as_ref();
    // AF(8) PROTOCOL(8) ADDR(20) PORT(8) SCHED(8) then FLAGS
    let v6: [u8; 16] = "2001:db8::10".parse::<Ipv6Addr>().unwrap().octets();
    assert_eq!(&payload[0..8], &[6, 0, 1, 0, 10, 0, 0, 0]);
    assert_eq!(&payload[20..36], &v6);
    assert_eq!(&payload[36..44], &[6, 0, 4, 0, 0x01, 0xbb, 0, 0]);
    assert_eq!(&payload[44..52], &[7, 0, 6, 0, b's', b'h', 0, 0]);
    assert_eq!(
        &payload[52..64],
        &[12, 0, 7, 0, 0x09, 0, 0, 0, 0xff, 0xff, 0xff, 0xff],
        "PERSISTENT|SCHED1, HASHED stripped, mask all ones"
    );
    assert_eq!(&payload[64..72], &[8, 0, 8, 0, 0x2c, 0x01, 0, 0]); // 300
    assert_eq!(&payload[72..80], &[8, 0, 9, 0, 64, 0, 0, 0]); // prefix length, host order
    assert_eq!(payload.len(), 80);
}

#[test]
fn ipv4_netmask_is_big_endian() {
    assert_eq!(netmask_bytes(Family::Inet, 0xffff_ff00), [255, 255, 255, 0]);
    assert_eq!(netmask_bytes(Family::Inet6, 128), 128u32.to_ne_bytes());
}

#[test]
fn add_dest_request_is_byte_exact() {
    let op = Op::AddDest {
        service: ServiceKey::Fwmark {
            family: Family::Inet,
            mark: 7,
        },
        dest: Dest::new([10, 1, 1, 2].into(), 8080, Forwarding::DirectRoute, 3),
    };
    let (command, attrs) = op_request(&op).unwrap();
    assert_eq!(command, 5);
    let bytes = request(0x22, 9, command, attrs).unwrap();
    #[rustfmt::skip]
    let want: Vec<u8> = [
        &[112, 0, 0, 0, 0x22, 0, 5, 0, 9, 0, 0, 0, 0, 0, 0, 0][..],
        &[5, 1, 0, 0],
        // SERVICE nest: AF, FWMARK only (identity)
        &[20, 0, 0x01, 0x80],
        &[6, 0, 1, 0, 2, 0, 0, 0],
        &[8, 0, 5, 0, 7, 0, 0, 0],
        // DEST nest
        &[72, 0, 0x02, 0x80],
        &[20, 0, 1, 0, 10, 1, 1, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], // ADDR
        &[6, 0, 2, 0, 0x1f, 0x90, 0, 0],                 // PORT 8080 big-endian
        &[6, 0, 11, 0, 2, 0, 0, 0],                      // ADDR_FAMILY
        &[8, 0, 3, 0, 3, 0, 0, 0],                       // FWD_METHOD = DROUTE
        &[8, 0, 4, 0, 3, 0, 0, 0],                       // WEIGHT
        &[8, 0, 5, 0, 0, 0, 0, 0],                       // U_THRESH
        &[8, 0, 6, 0, 0, 0, 0, 0],                       // L_THRESH
    ]
    .concat();
    assert_eq!(bytes, want);
}

#[test]
fn del_dest_carries_identity_only() {
    let op = Op::DelDest {
        service: tcp("10.0.0.1", 80),
        dest: piranha_engine::ipvs::DestKey {
            addr: [10, 1, 1, 2].into(),
            port: 80,
        },
    };
    let (command, attrs) = op_request(&op).unwrap();
    assert_eq!(command, 7);
    assert_eq!(attrs.len(), 2);
    // ADDR(20) PORT(8) ADDR_FAMILY(8)
    assert_eq!(attrs[1].nla_payload().as_ref().len(), 36);
}

#[test]
fn timeouts_skip_zeros() {
    let attrs = timeouts_attrs(&Timeouts {
        tcp_s: 900,
        tcpfin_s: 0,
        udp_s: 30,
    })
    .unwrap();
    let types: Vec<u16> = attrs.iter().map(|a| *a.nla_type().nla_type()).collect();
    assert_eq!(types, [4, 6]);
}

fn stats64(conns: u64, inbytes: u64) -> Vec<u8> {
    nested(
        12,
        &[
            tlv(1, &conns.to_ne_bytes()),
            tlv(11, &[]), // STATS_ATTR_PAD
            tlv(4, &inbytes.to_ne_bytes()),
        ],
    )
}

#[test]
fn decodes_a_service_dump_with_hashed_and_stats64() {
    let svc = nested(
        1,
        &[
            tlv(1, &2u16.to_ne_bytes()),
            tlv(2, &17u16.to_ne_bytes()),
            tlv(3, &[192, 168, 26, 11, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
            tlv(4, &53u16.to_be_bytes()),
            tlv(6, b"wrr\0"),
            tlv(7, &[0x03, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]), // PERSISTENT|HASHED
            tlv(8, &360u32.to_ne_bytes()),
            tlv(9, &[255, 255, 255, 0]),
            tlv(10, &[]), // an empty old-style STATS: STATS64 wins
            stats64(42, 1 << 40),
        ],
    );
    let mut bytes = nlmsg(0x22, 0x2, 5, 4, &svc); // NLM_F_MULTI
                                                  // NLMSG_DONE with status 0
    bytes.extend_from_slice(&20u32.to_ne_bytes());
    bytes.extend_from_slice(&3u16.to_ne_bytes());
    bytes.extend_from_slice(&2u16.to_ne_bytes());
    bytes.extend_from_slice(&5u32.to_ne_bytes());
    bytes.extend_from_slice(&0u32.to_ne_bytes());
    bytes.extend_from_slice(&0i32.to_ne_bytes());

    let replies = parse_replies(&bytes).unwrap();
    assert_eq!(replies.len(), 2);
    assert!(matches!(replies[1].kind, ReplyKind::Done(0)));
    let ReplyKind::Data(ref msg) = replies[0].kind else {
        panic!("not data: {:?}", replies[0].kind)
    };
    let d = service_of(msg).unwrap();
    let key = ServiceKey::Addr {
        protocol: Protocol::Udp,
        addr: [192, 168, 26, 11].into(),
        port: 53,
    };
    let mut want = Service::new(key, Algorithm::Wrr);
    want.flags = ServiceFlags::PERSISTENT;
    want.timeout_s = 360;
    want.netmask = 0xffff_ff00;
    assert_eq!(d.service, want);
    let stats = d.stats.unwrap();
    assert_eq!(stats.conns, 42);
    assert_eq!(stats.inbytes, 1 << 40);
    assert_eq!(stats.outpkts, 0);
}

#[test]
fn decodes_an_ipv6_dest_with_old_stats_and_tunnel() {
    let v6: Ipv6Addr = "2001:db8::1:1".parse().unwrap();
    let dest = nested(
        2,
        &[
            tlv(1, &v6.octets()),
            tlv(2, &443u16.to_be_bytes()),
            tlv(3, &(2u32 | 0x100).to_ne_bytes()), // TUNNEL, with a non-forwarding bit set
            tlv(4, &5u32.to_ne_bytes()),
            tlv(5, &100u32.to_ne_bytes()),
            tlv(6, &10u32.to_ne_bytes()),
            tlv(7, &12u32.to_ne_bytes()),
            tlv(8, &345u32.to_ne_bytes()),
            tlv(9, &6u32.to_ne_bytes()),
            nested(
                10,
                &[tlv(1, &9u32.to_ne_bytes()), tlv(5, &77u64.to_ne_bytes())],
            ),
            tlv(11, &10u16.to_ne_bytes()),
            tlv(13, &[1]),
            tlv(14, &6080u16.to_be_bytes()),
            tlv(15, &1u16.to_ne_bytes()),
        ],
    );
    let bytes = nlmsg(0x22, 0x2, 6, 8, &dest);
    let replies = parse_replies(&bytes).unwrap();
    let ReplyKind::Data(ref msg) = replies[0].kind else {
        panic!("not data")
    };
    let d = dest_of(msg, Family::Inet6).unwrap();
    assert_eq!(d.dest.addr, IpAddr::V6(v6));
    assert_eq!(d.dest.port, 443);
    assert_eq!(d.dest.fwd, Forwarding::Tunnel);
    assert_eq!(d.dest.weight, 5);
    assert_eq!((d.dest.u_threshold, d.dest.l_threshold), (100, 10));
    assert_eq!(
        (
            d.dest.conns.active,
            d.dest.conns.inactive,
            d.dest.conns.persistent
        ),
        (12, 345, 6)
    );
    assert_eq!(d.dest.tunnel.kind, TunnelType::Gue);
    assert_eq!(d.dest.tunnel.port, 6080);
    assert_eq!(d.dest.tunnel.flags, 1);
    let stats = d.stats.unwrap();
    assert_eq!((stats.conns, stats.outbytes), (9, 77));
}

#[test]
fn ipv4_dest_of_an_ipv6_service_uses_its_own_family() {
    let dest = nested(
        2,
        &[
            tlv(1, &[10, 9, 8, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
            tlv(2, &80u16.to_be_bytes()),
            tlv(3, &2u32.to_ne_bytes()),
            tlv(4, &1u32.to_ne_bytes()),
            tlv(11, &2u16.to_ne_bytes()),
        ],
    );
    let replies = parse_replies(&nlmsg(0x22, 0x2, 6, 8, &dest)).unwrap();
    let ReplyKind::Data(ref msg) = replies[0].kind else {
        panic!("not data")
    };
    let d = dest_of(msg, Family::Inet6).unwrap();
    assert_eq!(d.dest.addr, IpAddr::V4([10, 9, 8, 7].into()));
}

#[test]
fn decodes_ack_and_error() {
    // ACK: NLMSG_ERROR with error 0 and the request's header
    let mut ack = Vec::new();
    ack.extend_from_slice(&36u32.to_ne_bytes());
    ack.extend_from_slice(&2u16.to_ne_bytes());
    ack.extend_from_slice(&0x100u16.to_ne_bytes()); // NLM_F_CAPPED
    ack.extend_from_slice(&11u32.to_ne_bytes());
    ack.extend_from_slice(&99u32.to_ne_bytes());
    ack.extend_from_slice(&0i32.to_ne_bytes());
    ack.extend_from_slice(&[16, 0, 0, 0, 0x22, 0, 5, 0, 11, 0, 0, 0, 0, 0, 0, 0]);
    // error -EEXIST echoing a 20-byte request
    let mut err = Vec::new();
    err.extend_from_slice(&40u32.to_ne_bytes());
    err.extend_from_slice(&2u16.to_ne_bytes());
    err.extend_from_slice(&0u16.to_ne_bytes());
    err.extend_from_slice(&12u32.to_ne_bytes());
    err.extend_from_slice(&99u32.to_ne_bytes());
    err.extend_from_slice(&(-17i32).to_ne_bytes());
    err.extend_from_slice(&[
        20, 0, 0, 0, 0x22, 0, 5, 0, 12, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0,
    ]);
    let replies = parse_replies(&[ack, err].concat()).unwrap();
    assert_eq!(replies.len(), 2);
    assert_eq!(replies[0].seq, 11);
    assert!(matches!(replies[0].kind, ReplyKind::Ack));
    assert_eq!(replies[1].seq, 12);
    assert!(matches!(replies[1].kind, ReplyKind::Error(17)));
}

#[test]
fn service_round_trips_through_the_codec() {
    let keys = [
        tcp("10.0.0.1", 80),
        tcp("2001:db8::1", 0),
        ServiceKey::Fwmark {
            family: Family::Inet6,
            mark: 0xdead,
        },
    ];
    for key in keys {
        let mut s = Service::new(key, Algorithm::Mh);
        s.flags = ServiceFlags::PERSISTENT.with(ServiceFlags::SCHED2);
        s.timeout_s = 60;
        s.pe_name = Some("sip".into());
        let n = service_nest(&s).unwrap();
        let h = n.get_attr_handle::<u16>().unwrap();
        assert_eq!(decode_service(&h).unwrap().service, s, "{key}");
    }
}

#[test]
fn info_version_unpacks() {
    let attrs = [
        tlv(1, &0x010201u32.to_ne_bytes()),
        tlv(2, &4096u32.to_ne_bytes()),
    ]
    .concat();
    let replies = parse_replies(&nlmsg(0x22, 0, 3, 15, &attrs)).unwrap();
    let ReplyKind::Data(ref msg) = replies[0].kind else {
        panic!("not data")
    };
    assert_eq!(
        info_of(msg).unwrap(),
        ListingInfo {
            version: (1, 2, 1),
            conn_tab_size: 4096
        }
    );
}

#[test]
fn unknown_scheduler_is_a_decode_error() {
    let svc = [
        tlv(1, &2u16.to_ne_bytes()),
        tlv(5, &3u32.to_ne_bytes()),
        tlv(6, b"weird\0"),
        tlv(7, &[0; 8]),
        tlv(9, &[255; 4]),
    ];
    let n = nested(1, &svc);
    let replies = parse_replies(&nlmsg(0x22, 2, 1, 4, &n)).unwrap();
    let ReplyKind::Data(ref msg) = replies[0].kind else {
        panic!("not data")
    };
    let e = service_of(msg).unwrap_err();
    assert!(e.to_string().contains("weird"), "{e}");
}
