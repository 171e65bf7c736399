//! The kernel's hash functions for dh, sh, lblc/lblcr and mh, bit for bit.
//!
//! - dh/sh/lblc/lblcr: `hash_32(ntohl(addr_fold), bits)` (include/linux/hash.h: the high
//!   `bits` bits of `val * GOLDEN_RATIO_32`, 0x61C88647); IPv6 folds the four 32-bit
//!   words with XOR first. sh adds the port and a fallback offset:
//!   `(offset + hash_32(ntohs(port) + ntohl(addr_fold), 8)) & 0xff`. (Kernels before
//!   4.x took the *low* bits of `val * 2654435761`; the kernel differential against
//!   Debian's 6.1, tests/kernel_sched.rs, showed the difference.)
//! - mh: `hsiphash` of the host-order `u32` `offset + ntohs(port) + ntohl(addr_fold)`, with
//!   the fixed keys of `generate_hash_secret` (2654435761 twice, 2654446892 twice). On
//!   64-bit kernels hsiphash is SipHash-1-3 over 64-bit words, truncated to 32 bits; this
//!   module computes that variant (the x86-64/arm64 kernels' result).

use core::net::IpAddr;

/// `GOLDEN_RATIO_32` of include/linux/hash.h.
const GOLDEN_RATIO_32: u32 = 0x61c8_8647;

/// The kernel's `hash_32(val, bits)`: the high `bits` bits of `val * GOLDEN_RATIO_32`.
pub(crate) fn hash_32(val: u32, bits: u32) -> u32 {
    val.wrapping_mul(GOLDEN_RATIO_32) >> (32 - bits)
}

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
    hash_32(fold(addr), bits) as usize
}

/// `ip_vs_sh_hashkey` (256 buckets) with port and fallback offset.
pub(crate) fn sh_bucket(addr: IpAddr, port: u16, offset: u32) -> usize {
    let v = u32::from(port).wrapping_add(fold(addr));
    (offset.wrapping_add(hash_32(v, 8)) & 0xff) as usize
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
        // 10.0.0.1 = 0x0a000001; 0x0a000001 * 0x61c88647 mod 2^32 = 0x27c88647 (the
        // 0x0a000000 part contributes (0x0a * 0x47 mod 256) << 24 = 0xc6 << 24), whose top
        // byte is 0x27 and top 10 bits 0x9f.
        let a = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
        assert_eq!(0x0a00_0001u32.wrapping_mul(GOLDEN_RATIO_32), 0x27c8_8647);
        assert_eq!(addr_bucket(a, 8), 0x27);
        assert_eq!(addr_bucket(a, 10), 0x9f);
        assert_eq!(sh_bucket(a, 0, 0), 0x27);
        // port 1 => 0x0a000002 * 0x61c88647 = 0x27c88647 + 0x61c88647 = 0x89910c8e: top
        // byte 0x89; offset 1 => 0x8a; offset 0x80 wraps to 0x09.
        assert_eq!(sh_bucket(a, 1, 1), 0x8a);
        assert_eq!(sh_bucket(a, 1, 0x80), 0x09);
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
