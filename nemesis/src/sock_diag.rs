//! Finding one TCP socket's inode by its addresses through netlink
//! `sock_diag` (the interface `ss` uses): an exact lookup in the kernel's
//! socket hash, microseconds whatever the number of sockets, where reading
//! /proc/net/tcp costs milliseconds once thousands of connections sit in
//! TIME_WAIT.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsRawFd;

use nix::sys::socket::{
    recv, sendto, socket, AddressFamily, MsgFlags, NetlinkAddr, SockFlag, SockProtocol, SockType,
};

/// `SOCK_DIAG_BY_FAMILY` (linux/sock_diag.h).
const SOCK_DIAG_BY_FAMILY: u16 = 20;
/// `NLM_F_REQUEST` (linux/netlink.h): the message is a request.
const NLM_F_REQUEST: u16 = 1;
/// Size of `struct nlmsghdr`.
const HEADER: usize = 16;
/// Size of `struct inet_diag_req_v2`.
const REQUEST: usize = 56;
/// Offset of `idiag_inode` in `struct inet_diag_msg`.
const INODE_OFFSET: usize = 68;

fn address_bytes(ip: IpAddr, family: AddressFamily) -> Option<[u8; 16]> {
    let mut bytes = [0_u8; 16];
    match (ip, family) {
        (IpAddr::V4(v4), AddressFamily::Inet) => bytes[..4].copy_from_slice(&v4.octets()),
        (IpAddr::V4(v4), AddressFamily::Inet6) => bytes = v4.to_ipv6_mapped().octets(),
        (IpAddr::V6(v6), AddressFamily::Inet6) => bytes = v6.octets(),
        (IpAddr::V6(v6), AddressFamily::Inet) => {
            bytes[..4].copy_from_slice(&v6.to_ipv4_mapped()?.octets())
        }
        _ => return None,
    }
    Some(bytes)
}

/// The inode of the TCP socket of address family `family` (`Inet` or
/// `Inet6`) whose local address is `local` and whose remote address is
/// `remote`; `Ok(None)` when there is no such socket.
///
/// # Errors
/// When netlink itself fails (e.g. `sock_diag` is not available).
pub(crate) fn inode_of(
    local: SocketAddr,
    remote: SocketAddr,
    family: AddressFamily,
) -> io::Result<Option<u64>> {
    let (Some(source), Some(destination)) = (
        address_bytes(local.ip(), family),
        address_bytes(remote.ip(), family),
    ) else {
        return Ok(None);
    };
    let mut message = Vec::with_capacity(HEADER + REQUEST);
    message.extend_from_slice(&((HEADER + REQUEST) as u32).to_ne_bytes());
    message.extend_from_slice(&SOCK_DIAG_BY_FAMILY.to_ne_bytes());
    message.extend_from_slice(&NLM_F_REQUEST.to_ne_bytes());
    message.extend_from_slice(&1_u32.to_ne_bytes()); // sequence number
    message.extend_from_slice(&0_u32.to_ne_bytes()); // port id: the kernel
    message.push(family as u8);
    message.push(SockProtocol::Tcp as u8);
    message.push(0); // no extensions
    message.push(0); // pad
    message.extend_from_slice(&u32::MAX.to_ne_bytes()); // every state
    message.extend_from_slice(&local.port().to_be_bytes());
    message.extend_from_slice(&remote.port().to_be_bytes());
    message.extend_from_slice(&source);
    message.extend_from_slice(&destination);
    message.extend_from_slice(&0_u32.to_ne_bytes()); // any interface
    message.extend_from_slice(&[0xFF; 8]); // INET_DIAG_NOCOOKIE
    debug_assert_eq!(message.len(), HEADER + REQUEST);

    let socket = socket(
        AddressFamily::Netlink,
        SockType::Datagram,
        SockFlag::SOCK_CLOEXEC,
        SockProtocol::NetlinkSockDiag,
    )?;
    // Port id 0: the kernel.
    let kernel = NetlinkAddr::new(0, 0);
    sendto(socket.as_raw_fd(), &message, &kernel, MsgFlags::empty())?;
    let mut answer = [0_u8; 4096];
    let received = recv(socket.as_raw_fd(), &mut answer, MsgFlags::empty())?;
    let answer = &answer[..received];
    if answer.len() < HEADER {
        return Ok(None);
    }
    let kind = u16::from_ne_bytes([answer[4], answer[5]]);
    if kind != SOCK_DIAG_BY_FAMILY || answer.len() < HEADER + INODE_OFFSET + 4 {
        // NLMSG_ERROR: typically ENOENT, no such socket.
        return Ok(None);
    }
    let at = HEADER + INODE_OFFSET;
    let inode = u32::from_ne_bytes([answer[at], answer[at + 1], answer[at + 2], answer[at + 3]]);
    Ok((inode != 0).then_some(u64::from(inode)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_same_inode_as_proc_net_tcp() {
        let listener =
            std::net::TcpListener::bind("127.0.0.1:0").expect("loopback port 0 is bindable");
        let listen = listener.local_addr().expect("bound");
        let dialled = std::net::TcpStream::connect(listen).expect("listener accepts");
        let (_accepted, peer) = listener.accept().expect("connection is queued");
        let by_netlink =
            inode_of(peer, listen, AddressFamily::Inet).expect("sock_diag works on Linux");
        let by_proc = crate::procfs::socket_inode_from_tables(peer.port(), listen.port());
        assert!(by_netlink.is_some());
        assert_eq!(by_netlink, by_proc);
        let nobody = SocketAddr::from(([127, 0, 0, 1], 1));
        assert_eq!(
            inode_of(nobody, listen, AddressFamily::Inet).expect("sock_diag works"),
            None
        );
        drop(dialled);
    }
}
