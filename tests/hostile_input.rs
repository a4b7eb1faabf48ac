//! Hostile input in one inbox: hundreds of mutations of the 3GPP, OMeS and mdc files
//! of `datasets/` (truncations, byte flips, invalid UTF-8, huge numbers and `p` indexes, entity
//! bombs, 200,000-deep nesting) made with a fixed seed, beside the untouched files and
//! a gzip bomb of 1.2 GB of zeros. One `pmflow ingest`: no panic, exit 0, every
//! untouched file in `Done/`, every other file in `Done/` or in `Failed/` with its
//! reason, and a peak RSS under 1 GiB.

mod common;

use std::io::{Read, Write};
use std::path::Path;
use std::process::Command;

use common::{dataset, names_in, stage};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// The dataset files (decompressed) by name.
fn originals() -> Vec<(String, Vec<u8>)> {
    let mut files = Vec::new();
    // Every format `auto` recognises without a plan's options.
    for system in ["4ga", "5ga", "5gc", "conformance", "omes", "mdc"] {
        for name in names_in(&dataset(system)) {
            let bytes = std::fs::read(dataset(system).join(&name)).unwrap();
            let (name, bytes) = match name.strip_suffix(".gz") {
                Some(plain) => {
                    let mut xml = Vec::new();
                    flate2::read::MultiGzDecoder::new(&bytes[..])
                        .read_to_end(&mut xml)
                        .unwrap();
                    (format!("{plain}-unzipped"), xml)
                }
                None => (name, bytes),
            };
            files.push((format!("{system}_{name}"), bytes));
        }
    }
    files
}

/// Replaces the first occurrence of `from` after a random point with `to`.
fn replace_one(rng: &mut StdRng, bytes: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let start = rng.random_range(0..bytes.len());
    let found = bytes[start..]
        .windows(from.len())
        .position(|w| w == from)
        .map(|i| start + i)
        .or_else(|| bytes.windows(from.len()).position(|w| w == from));
    match found {
        Some(at) => [&bytes[..at], to, &bytes[at + from.len()..]].concat(),
        None => [bytes, to].concat(),
    }
}

/// Mutations of one file, by suffix.
fn mutate(rng: &mut StdRng, xml: &[u8]) -> Vec<(&'static str, Vec<u8>)> {
    let cut = rng.random_range(1..xml.len());
    let mut flipped = xml.to_vec();
    for _ in 0..20 {
        let at = rng.random_range(0..flipped.len());
        flipped[at] ^= 1 << rng.random_range(0..8);
    }
    let laughs = "<!DOCTYPE lolz [<!ENTITY lol \"lol\">\
        <!ENTITY lol2 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">\
        <!ENTITY lol3 \"&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;\">]>";
    let body_start = xml.windows(2).position(|w| w == b"?>").map_or(0, |i| i + 2);
    let bomb = [&xml[..body_start], laughs.as_bytes(), &xml[body_start..]].concat();
    let deep = {
        let open = "<a>".repeat(200_000);
        let close = "</a>".repeat(200_000);
        replace_one(
            rng,
            xml,
            b"<measData>",
            format!("<measData>{open}{close}").as_bytes(),
        )
    };
    vec![
        ("truncated", xml[..cut].to_vec()),
        ("flipped", flipped),
        (
            "invalid-utf8",
            replace_one(rng, xml, b"measObjLdn=\"", b"measObjLdn=\"\xff\xfe"),
        ),
        (
            "huge-number",
            replace_one(rng, xml, b"</r>", b"999999999999999999999999999999999</r>"),
        ),
        ("huge-p", replace_one(rng, xml, b"p=\"", b"p=\"99999999999")),
        (
            "entity-bomb",
            replace_one(rng, &bomb, b"</r>", b"&lol3;</r>"),
        ),
        ("deep", deep),
    ]
}

/// A gzip file of 1.2 GB of zeros: 120 members of 10 MB, compressed once.
fn gzip_bomb() -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(&vec![0; 10_000_000]).unwrap();
    encoder.finish().unwrap().repeat(120)
}

/// The peak RSS of this process's waited-for children, in KiB.
fn children_peak_rss_kib() -> i64 {
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage writes the struct it is given.
    let status = unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) };
    assert_eq!(status, 0, "getrusage");
    usage.ru_maxrss
}

fn write_all(dir: &Path, files: &[(String, Vec<u8>)]) {
    std::fs::create_dir_all(dir).unwrap();
    for (name, bytes) in files {
        std::fs::write(dir.join(name), bytes).unwrap();
    }
}

#[test]
fn hundreds_of_mutated_files_and_a_gzip_bomb_end_in_done_or_failed_within_bounded_memory() {
    let tmp = tempfile::tempdir().unwrap();
    let mut rng = StdRng::seed_from_u64(0x0bad_f11e);
    let originals = originals();
    let mut hostile = Vec::new();
    for (name, xml) in &originals {
        for (suffix, bytes) in mutate(&mut rng, xml) {
            hostile.push((format!("{name}.{suffix}.xml"), bytes));
        }
    }
    hostile.push(("bomb.xml.gz".to_string(), gzip_bomb()));
    assert!(hostile.len() >= 150, "{} hostile files", hostile.len());
    // Written elsewhere, then staged: every file settled when the cycle lists it.
    let written = tmp.path().join("written");
    write_all(&written, &originals);
    write_all(&written, &hostile);
    let inbox = tmp.path().join("inbox");
    let paths: Vec<_> = names_in(&written).iter().map(|n| written.join(n)).collect();
    stage(&inbox, &paths);

    let output = Command::new(env!("CARGO_BIN_EXE_pmflow"))
        .args([
            "ingest",
            inbox.to_str().unwrap(),
            "--system",
            "pm",
            "--archive",
        ])
        .arg(tmp.path().join("archive"))
        .current_dir(common::repo())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let peak = children_peak_rss_kib();
    eprintln!("peak RSS of the ingest: {peak} KiB");
    assert!(peak < 1 << 20, "peak RSS {peak} KiB");

    assert_eq!(names_in(&inbox), ["Done", "Failed"]);
    let done = names_in(&inbox.join("Done"));
    let failed = names_in(&inbox.join("Failed"));
    for (name, _) in &originals {
        assert!(done.contains(name), "{name} is not in Done/");
    }
    for (name, _) in &hostile {
        let reason = format!("{name}.reason");
        assert!(
            done.contains(name) || (failed.contains(name) && failed.contains(&reason)),
            "{name} is neither in Done/ nor in Failed/ with its reason"
        );
    }
    assert_eq!(
        done.len() + failed.len() / 2,
        originals.len() + hostile.len()
    );
    let bomb = std::fs::read_to_string(inbox.join("Failed/bomb.xml.gz.reason")).unwrap();
    assert!(bomb.starts_with("bomb.xml.gz"), "{bomb}");
}
