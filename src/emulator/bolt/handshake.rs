//! The Bolt handshake: the client sends a magic preamble and four version proposals, the server
//! answers with the one version it will speak (or zeros, then closes).

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

const MAGIC: [u8; 4] = [0x60, 0x60, 0xB0, 0x17];

/// Bolt versions the emulator speaks: 4.4 alone. Aura runs Neo4j 5 or later, which speaks 4.4
/// and 5.x and refuses 4.0 to 4.3; a client that offers only those must fail here as it would
/// there (accepting them let a model pass what Aura would refuse). 5.x, whose login is a message
/// of its own, is not emulated; the neo4rs driver the operator uses offers 4.4 first.
const SUPPORTED: [(u8, u8); 1] = [(4, 4)];

/// A negotiated protocol version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Version {
    pub major: u8,
    pub minor: u8,
}

/// Why a handshake ended without a version.
#[derive(Debug, thiserror::Error)]
pub enum HandshakeError {
    #[error("the client did not send the Bolt preamble")]
    NotBolt,
    #[error("no Bolt version in common with the client")]
    NoCommonVersion,
    #[error("handshake I/O: {0}")]
    Io(#[from] std::io::Error),
}

/// The best supported version among four proposals `[_, range, minor, major]`; a proposal
/// covers `minor` down to `minor - range`.
pub fn choose(proposals: &[[u8; 4]; 4]) -> Option<Version> {
    proposals.iter().find_map(|&[_, range, minor, major]| {
        SUPPORTED
            .iter()
            .find(|&&(m, n)| m == major && n <= minor && n >= minor.saturating_sub(range))
            .map(|&(major, minor)| Version { major, minor })
    })
}

/// Reads the preamble and proposals, answers with the chosen version.
pub async fn negotiate<S>(stream: &mut S) -> Result<Version, HandshakeError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut buf = [0u8; 20];
    stream.read_exact(&mut buf).await?;
    if buf[..4] != MAGIC {
        return Err(HandshakeError::NotBolt);
    }
    let mut proposals = [[0u8; 4]; 4];
    for (i, proposal) in proposals.iter_mut().enumerate() {
        proposal.copy_from_slice(&buf[4 + i * 4..8 + i * 4]);
    }
    let Some(version) = choose(&proposals) else {
        stream.write_all(&[0, 0, 0, 0]).await?;
        return Err(HandshakeError::NoCommonVersion);
    };
    stream
        .write_all(&[0, 0, version.minor, version.major])
        .await?;
    stream.flush().await?;
    Ok(version)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_proposal_we_speak_wins() {
        let offered = [[0, 0, 0, 5], [0, 0, 4, 4], [0, 0, 1, 4], [0; 4]];
        assert_eq!(choose(&offered), Some(Version { major: 4, minor: 4 }));
    }

    #[test]
    fn a_range_reaches_down_to_a_supported_minor() {
        let offered = [[0, 3, 7, 4], [0; 4], [0; 4], [0; 4]];
        assert_eq!(choose(&offered), Some(Version { major: 4, minor: 4 }));
    }

    #[test]
    fn the_4x_versions_neo4j_5_refuses_are_refused() {
        let offered = [[0, 0, 3, 4], [0, 0, 1, 4], [0, 0, 0, 4], [0; 4]];
        assert_eq!(choose(&offered), None);
        let below = [[0, 2, 3, 4], [0; 4], [0; 4], [0; 4]];
        assert_eq!(choose(&below), None, "4.3 down to 4.1");
    }

    #[test]
    fn bolt_5_only_has_nothing_in_common() {
        let offered = [[0, 0, 4, 5], [0, 0, 0, 5], [0; 4], [0; 4]];
        assert_eq!(choose(&offered), None);
    }
}
