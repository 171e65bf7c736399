//! The kernel's hash functions for dh, sh, lblc/lblcr and mh, bit for bit.
//!
//! - dh/sh/lblc/lblcr: `(ntohl(addr_fold) * 2654435761UL) & mask`; IPv6 folds the four
//!   32-bit words with XOR first. sh adds the port and a fallback offset:
//!   `(offset + (ntohs(port) + ntohl(addr_fold)) * 2654435761UL) & mask`.
//! - mh: `hsiphash` of the host-order `u32` `offset + ntohs(port) + ntohl(addr_fold)`, with
//!   the fixed keys of `generate_hash_secret` (2654435761 twice, 2654446892 twice). On
//!   64-bit kernels hsiphash is SipHash-1-3 over 64-bit words, truncated to 32 bits; this
//!   module computes that variant (the x86-64/arm64 kernels' result).

use core::net::IpAddr;

/// Knuth's multiplicative constant the IPVS hashes use.
const GOLDEN: u64 = 2_654_435_761;

/// `ntohl(addr_fold)`: the IPv4 address, or the XOR of an IPv6 address's four words.
pub(crate) fn fold(addr: IpAddr) -> u32 {
    match addr {
        IpAddr::V4(a) => u32::from(a),
        IpAddr::V6(a) => {
            let b = a.octets();
            let w = |i: usize| u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
            w(0) ^ w(4) ^ w(8) ^ w(12)
        }
    }
}

/// `ip_vs_dh_hashkey` / `ip_vs_lblc_hashkey` with a table of `1 << bits` buckets.
pub(crate) fn addr_bucket(addr: IpAddr, bits: u32) -> usize {
    (u64::from(fold(addr)).wrapping_mul(GOLDEN) & ((1u64 << bits) - 1)) as usize
}

/// `ip_vs_sh_hashkey` (256 buckets) with port and fallback offset.
pub(crate) fn sh_bucket(addr: IpAddr, port: u16, offset: u32) -> usize {
    let v = u64::from(u32::from(port).wrapping_add(fold(addr)));
    (u64::from(offset).wrapping_add(v.wrapping_mul(GOLDEN)) & 0xff) as usize
}

/// `hsiphash_key_t` hash1 of ip_vs_mh.c.
pub(crate) const MH_KEY1: [u64; 2] = [2_654_435_761, 2_654_435_761];
/// `hsiphash_key_t` hash2 of ip_vs_mh.c.
pub(crate) const MH_KEY2: [u64; 2] = [2_654_446_892, 2_654_446_892];

/// `ip_vs_mh_hashkey`: hsiphash of the 4-byte value `offset + port + addr_fold`.
pub(crate) fn mh_hash(addr: IpAddr, port: u16, key: &[u64; 2], offset: u32) -> u32 {
    let v = offset
        .wrapping_add(u32::from(port))
        .wrapping_add(fold(addr));
    hsiphash_u32(v, key)
}

#[inline]
fn sipround(v: &mut [u64; 4]) {
    v[0] = v[0].wrapping_add(v[1]);
    v[1] = v[1].rotate_left(13);
    v[1] ^= v[0];
    v[0] = v[0].rotate_left(32);
    v[2] = v[2].wrapping_add(v[3]);
    v[3] = v[3].rotate_left(16);
    v[3] ^= v[2];
    v[0] = v[0].wrapping_add(v[3]);
    v[3] = v[3].rotate_left(21);
    v[3] ^= v[0];
    v[2] = v[2].wrapping_add(v[1]);
    v[1] = v[1].rotate_left(17);
    v[1] ^= v[2];
    v[2] = v[2].rotate_left(32);
}

/// 64-bit kernels' `hsiphash(&v, 4, key)`: SipHash-1-3 of the four little-endian bytes of
/// `v`, truncated to `u32`.
pub(crate) fn hsiphash_u32(v: u32, key: &[u64; 2]) -> u32 {
    siphash_u32(v, key, 1, 3) as u32
}

/// SipHash-c-d of the four little-endian bytes of `v` (the kernel's PREAMBLE/POSTAMBLE).
fn siphash_u32(v: u32, key: &[u64; 2], c_rounds: u32, d_rounds: u32) -> u64 {
    let mut s = [
        0x736f_6d65_7073_6575 ^ key[0],
        0x646f_7261_6e64_6f6d ^ key[1],
        0x6c79_6765_6e65_7261 ^ key[0],
        0x7465_6462_7974_6573 ^ key[1],
    ];
    let b: u64 = (4u64 << 56) | u64::from(v);
    s[3] ^= b;
    for _ in 0..c_rounds {
        sipround(&mut s);
    }
    s[0] ^= b;
    s[2] ^= 0xff;
    for _ in 0..d_rounds {
        sipround(&mut s);
    }
    s[0] ^ s[1] ^ s[2] ^ s[3]
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::net::{Ipv4Addr, Ipv6Addr};

    #[test]
    fn multiplicative_hash_matches_hand_computation() {
        // 10.0.0.1 = 0x0a000001; 0x0a000000 * anything has its low 25 bits zero, so the
        // low bits are those of 1 * 2654435761 = 0x9E3779B1: byte 0xB1, 10 bits 0x1B1.
        let a = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
        assert_eq!(addr_bucket(a, 8), 0xb1);
        assert_eq!(addr_bucket(a, 10), 0x1b1);
        assert_eq!(sh_bucket(a, 0, 0), 0xb1);
        // port 1 => value 0x0a000002, low byte 2 * 0xB1 = 0x162 => 0x62; offset 1 => 0x63.
        assert_eq!(sh_bucket(a, 1, 1), 0x63);
    }

    #[test]
    fn ipv6_folds_words_with_xor() {
        let a = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1));
        assert_eq!(fold(a), 0x2001_0db8 ^ 0x0000_0001);
    }

    #[test]
    #[allow(deprecated)]
    fn sip_rounds_match_std_siphash24() {
        // std's SipHasher is SipHash-2-4 with the same state layout; agreeing with it for
        // c=2, d=4 checks the rounds, the key schedule and the length/tail word, so c=1, d=3
        // (the kernel's 64-bit hsiphash) is right by construction.
        use core::hash::Hasher;
        for (v, k0, k1) in [
            (0u32, 0u64, 0u64),
            (0x0a00_0001, MH_KEY1[0], MH_KEY1[1]),
            (0xdead_beef, MH_KEY2[0], 7),
        ] {
            let mut h = std::hash::SipHasher::new_with_keys(k0, k1);
            h.write(&v.to_le_bytes());
            assert_eq!(siphash_u32(v, &[k0, k1], 2, 4), h.finish());
        }
        assert_ne!(
            mh_hash(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), 80, &MH_KEY1, 0),
            mh_hash(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), 80, &MH_KEY2, 0)
        );
    }
}
