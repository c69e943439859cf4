//! The redis round trip's WASI floor, for the bench: a `wasi:cli` command that connects to a
//! `redis-server` on `127.0.0.1:PORT` over `wasi:sockets` and times, in nanoseconds per call,
//! each WASI call a round trip makes (on a connection with nothing to read) and round trips
//! of `GET` made with as few calls as `wasi:sockets` allows: `check-write`, `write` and reads
//! until the whole reply is in. No deadline, no RESP parser, no stale-connection check unless
//! asked for. The bench (`cargo bench --bench calls -- --only redis`) runs it embedded as it runs
//! the plugged bench app, and prints its lines.
//!
//! `socket-floor PORT N`: sets the key `floor` to 100 bytes, then prints one line per
//! measurement, over `N` calls each: `call NAME NS` (one WASI call), `trip NAME MEAN MEDIAN
//! SEND FIRST` (round trips: mean and median ns, the mean ns of sending, the % of trips whose
//! first read had the reply).

mod bindings {
    wit_bindgen::generate!({
        inline: "
            package keyvalue-virt:socket-floor;
            world socket-floor {
                import wasi:sockets/instance-network@0.2.0;
                import wasi:sockets/tcp-create-socket@0.2.0;
                import wasi:sockets/tcp@0.2.0;
                import wasi:clocks/monotonic-clock@0.2.0;
                import wasi:io/poll@0.2.0;
            }
        ",
        path: [
            "../../wit/deps/io-0.2.0",
            "../../wit/deps/clocks-0.2.0",
            "../../wit/deps/sockets-0.2.0",
        ],
        world: "keyvalue-virt:socket-floor/socket-floor",
        generate_all,
    });
}

use std::hint::black_box;

use bindings::wasi::clocks::monotonic_clock;
use bindings::wasi::io::poll;
use bindings::wasi::io::streams::{InputStream, OutputStream};
use bindings::wasi::sockets::instance_network::instance_network;
use bindings::wasi::sockets::network::{IpAddressFamily, IpSocketAddress, Ipv4SocketAddress};
use bindings::wasi::sockets::tcp::TcpSocket;
use bindings::wasi::sockets::tcp_create_socket::create_tcp_socket;

/// The value's size, as the bench's redis rows use.
const VALUE_SIZE: usize = 100;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(port), Some(n)) = (
        args.get(1).and_then(|a| a.parse::<u16>().ok()),
        args.get(2).and_then(|a| a.parse::<u64>().ok()),
    ) else {
        eprintln!("usage: socket-floor PORT N");
        std::process::exit(2);
    };
    let (_socket, input, output) = connect(port);
    let value = vec![b'7'; VALUE_SIZE];
    let mut set = b"*3\r\n$3\r\nSET\r\n$5\r\nfloor\r\n$100\r\n".to_vec();
    set.extend_from_slice(&value);
    set.extend_from_slice(b"\r\n");
    send_with(&output, &set);
    let mut buf = Vec::new();
    receive(&input, &mut buf, 5, 4096);

    let get = b"*2\r\n$3\r\nGET\r\n$5\r\nfloor\r\n";
    // `$100\r\n` + the value + `\r\n`.
    let reply_len = 6 + VALUE_SIZE + 2;

    // One WASI call each, on a connection with nothing to read.
    let per = |name: &str, f: &mut dyn FnMut()| {
        let start = monotonic_clock::now();
        for _ in 0..n {
            f();
        }
        println!("call {name} {}", (monotonic_clock::now() - start) / n);
    };
    per("monotonic-clock.now", &mut || {
        black_box(monotonic_clock::now());
    });
    for size in [1, 4096, 65536] {
        per(&format!("input-stream.read({size}),empty"), &mut || {
            black_box(input.read(size).map(|b| b.len()).unwrap_or(0));
        });
    }
    per("output-stream.check-write", &mut || {
        black_box(output.check_write().unwrap_or(0));
    });
    per("output-stream.flush", &mut || {
        black_box(output.flush().is_ok());
    });
    let pollable = input.subscribe();
    per("poll(input,zero-timer)", &mut || {
        let timer = monotonic_clock::subscribe_duration(0);
        black_box(poll::poll(&[&pollable, &timer]));
    });
    drop(pollable);

    // Round trips of `GET floor`: `trip NAME MEAN MEDIAN SEND FIRST` (ns: mean and median per
    // trip, mean of `check-write` + `write` + `flush`; % of trips whose first read had the reply).
    let mut trips = |name: &str, stale_check: bool, delay_ns: u64| {
        let (mut caught, mut send) = (0u64, 0u64);
        let mut times = Vec::with_capacity(n as usize);
        for _ in 0..n {
            let start = monotonic_clock::now();
            if stale_check {
                black_box(input.read(1).map(|b| b.len()).unwrap_or(0));
            }
            send_with(&output, get);
            send += monotonic_clock::now() - start;
            if delay_ns > 0 {
                let until = monotonic_clock::now() + delay_ns;
                while monotonic_clock::now() < until {}
            }
            buf.clear();
            let empty = receive(&input, &mut buf, reply_len, 4096);
            times.push(monotonic_clock::now() - start);
            caught += u64::from(empty == 0);
        }
        let mean = times.iter().sum::<u64>() / n;
        times.sort_unstable();
        let median = times[times.len() / 2];
        println!(
            "trip {name} {mean} {median} {} {}",
            send / n,
            caught * 100 / n
        );
    };
    trips("minimal", false, 0);
    trips("stale-check", true, 0);
    // No read between the last reply and this one's arrival: the runtime's readiness for the
    // socket is never cleared, so the reply is read without waiting for its I/O thread.
    trips("no-read-for-20us", false, 20_000);
}

fn connect(port: u16) -> (TcpSocket, InputStream, OutputStream) {
    let network = instance_network();
    let socket = create_tcp_socket(IpAddressFamily::Ipv4).expect("create a socket");
    let remote = IpSocketAddress::Ipv4(Ipv4SocketAddress {
        port,
        address: (127, 0, 0, 1),
    });
    socket
        .start_connect(&network, remote)
        .expect("start-connect");
    loop {
        socket.subscribe().block();
        match socket.finish_connect() {
            Ok((input, output)) => return (socket, input, output),
            Err(bindings::wasi::sockets::network::ErrorCode::WouldBlock) => continue,
            Err(e) => panic!("cannot connect to 127.0.0.1:{port}: {e:?}"),
        }
    }
}

/// `check-write`, `write`, `flush`: the fewest calls for a small write.
fn send_with(output: &OutputStream, bytes: &[u8]) {
    loop {
        match output.check_write() {
            Ok(0) => output.subscribe().block(),
            Ok(_) => break,
            Err(e) => panic!("check-write: {e:?}"),
        }
    }
    output.write(bytes).expect("write");
    output.flush().expect("flush");
}

/// Reads `size` bytes at a time until `buf` holds `len` bytes; returns the reads that came back
/// empty.
fn receive(input: &InputStream, buf: &mut Vec<u8>, len: usize, size: u64) -> u64 {
    let mut empty = 0;
    while buf.len() < len {
        match input.read(size) {
            Ok(bytes) if bytes.is_empty() => empty += 1,
            Ok(bytes) => buf.extend_from_slice(&bytes),
            Err(e) => panic!("read: {e:?}"),
        }
    }
    empty
}
