//! The smallest tar swab needs to write: one directory entry. (A tar crate for 40 lines.)

/// A tar holding one directory entry, `dir` (absolute), mode 0755, owned by root: what
/// `PUT /containers/{id}/archive?path=/` needs to create a missing directory and its
/// parents, and the one layer of the lock's image ([`crate::lease`]).
pub(crate) fn directory(dir: &str) -> Vec<u8> {
    let name = format!("{}/", dir.trim_matches('/'));
    let mut header = [0u8; 512];
    let mut put = |at: usize, field: &[u8]| header[at..at + field.len()].copy_from_slice(field);
    // Names over 100 bytes would need the ustar prefix; directories of configs are short.
    put(0, &name.as_bytes()[..name.len().min(100)]);
    put(100, b"0000755\0");
    put(108, b"0000000\0");
    put(116, b"0000000\0");
    put(124, b"00000000000\0");
    put(136, b"00000000000\0");
    put(156, b"5");
    put(257, b"ustar\0");
    put(263, b"00");
    // The checksum is computed with its own field as spaces.
    header[148..156].copy_from_slice(b"        ");
    let sum: u32 = header.iter().map(|b| u32::from(*b)).sum();
    header[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    let mut tar = header.to_vec();
    tar.extend_from_slice(&[0u8; 1024]);
    tar
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directory_tar_is_one_valid_ustar_entry() {
        let tar = directory("/run/secrets");
        assert_eq!(tar.len(), 512 + 1024);
        assert_eq!(&tar[..13], b"run/secrets/\0");
        assert_eq!(tar[156], b'5', "a directory");
        let stored = std::str::from_utf8(&tar[148..154]).unwrap();
        let mut header = tar[..512].to_vec();
        header[148..156].copy_from_slice(b"        ");
        let sum: u32 = header.iter().map(|b| u32::from(*b)).sum();
        assert_eq!(u32::from_str_radix(stored, 8).unwrap(), sum);
    }
}
