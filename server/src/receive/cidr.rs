//! Source allow-lists: which sender addresses a webhook accepts.

use std::net::IpAddr;

/// A source allow-list entry: an address with a prefix length.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    pub fn parse(text: &str) -> Result<Cidr, String> {
        let (address, prefix) = text.trim().split_once('/').unwrap_or((text.trim(), ""));
        let network: IpAddr = address
            .parse()
            .map_err(|_| format!("'{text}' is not an IP address or CIDR"))?;
        let bits = if network.is_ipv4() { 32 } else { 128 };
        let prefix = if prefix.is_empty() {
            bits
        } else {
            prefix
                .parse::<u8>()
                .ok()
                .filter(|prefix| *prefix <= bits)
                .ok_or_else(|| format!("'{text}' has an invalid prefix length"))?
        };
        Ok(Cidr { network, prefix })
    }

    pub fn contains(&self, address: IpAddr) -> bool {
        let to_bits = |ip: IpAddr| match ip {
            IpAddr::V4(v4) => u128::from(u32::from(v4)) << 96,
            IpAddr::V6(v6) => u128::from(v6),
        };
        let address = match address {
            IpAddr::V6(v6) => v6
                .to_ipv4_mapped()
                .map(IpAddr::V4)
                .unwrap_or(IpAddr::V6(v6)),
            v4 => v4,
        };
        if address.is_ipv4() != self.network.is_ipv4() {
            return false;
        }
        let shift = if self.network.is_ipv4() {
            32 - u32::from(self.prefix) + 96
        } else {
            128 - u32::from(self.prefix)
        };
        let mask = if shift >= 128 { 0 } else { u128::MAX << shift };
        to_bits(address) & mask == to_bits(self.network) & mask
    }
}

/// A webhook's source allow-list: the senders it accepts; empty accepts any.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AllowList(Vec<Cidr>);

impl AllowList {
    /// Reads an allow-list as stored: a JSON array of entries that
    /// [`Cidr::parse`] accepts. Saving checked every entry, so anything else
    /// is bad data and an error, never an empty list (which lets every
    /// sender in) nor a shorter one.
    pub fn from_stored(json: &str) -> Result<AllowList, String> {
        let entries: Vec<String> = serde_json::from_str(json).map_err(|error| {
            format!("the stored source allow-list is not a JSON array of strings: {error}")
        })?;
        entries
            .iter()
            .map(|entry| Cidr::parse(entry))
            .collect::<Result<_, _>>()
            .map(AllowList)
            .map_err(|problem| {
                format!("a stored source allow-list entry no longer parses: {problem}")
            })
    }

    /// Whether a sender may deliver: anyone when the list is empty, else
    /// only a known address inside one of its entries.
    pub fn allows(&self, peer: Option<IpAddr>) -> bool {
        self.0.is_empty() || peer.is_some_and(|peer| self.0.iter().any(|cidr| cidr.contains(peer)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidrs_contain_what_they_should() {
        let loopback = Cidr::parse("127.0.0.0/8").unwrap();
        assert!(loopback.contains("127.0.0.1".parse().unwrap()));
        assert!(loopback.contains("::ffff:127.0.0.1".parse().unwrap()));
        assert!(!loopback.contains("10.0.0.1".parse().unwrap()));
        assert!(Cidr::parse("10.1.2.3")
            .unwrap()
            .contains("10.1.2.3".parse().unwrap()));
        assert!(Cidr::parse("0.0.0.0/0")
            .unwrap()
            .contains("8.8.8.8".parse().unwrap()));
        assert!(Cidr::parse("fd00::/8")
            .unwrap()
            .contains("fd12::1".parse().unwrap()));
        assert!(Cidr::parse("10.0.0.0/33").is_err());
        assert!(Cidr::parse("not-an-ip").is_err());
    }

    #[test]
    fn stored_allow_lists_are_read_strictly() {
        let peer = |text: &str| Some(text.parse().unwrap());
        let open = AllowList::from_stored("[]").unwrap();
        assert!(open.allows(peer("203.0.113.9")));
        assert!(open.allows(None));

        let list = AllowList::from_stored(r#"["10.0.0.0/8", "192.0.2.7"]"#).unwrap();
        assert!(list.allows(peer("10.1.2.3")));
        assert!(list.allows(peer("192.0.2.7")));
        assert!(!list.allows(peer("192.0.2.8")));
        assert!(!list.allows(None));

        // Bad stored data is an error, not an open (or shortened) list.
        for corrupt in ["not json", "", "{}", r#""10.0.0.0/8""#, "[1]", "null"] {
            let problem = AllowList::from_stored(corrupt).unwrap_err();
            assert!(problem.contains("not a JSON array"), "{corrupt}: {problem}");
        }
        let problem = AllowList::from_stored(r#"["10.0.0.0/8", "10.0.0.0/99"]"#).unwrap_err();
        assert!(problem.contains("no longer parses"), "{problem}");
        assert!(AllowList::from_stored(r#"["nonsense"]"#).is_err());
    }
}
