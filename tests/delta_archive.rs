//! The archive as Delta Lake tables, checked from outside pmflow: an independent
//! reader (Python `deltalake`) reads the tables through their logs and an independent
//! parser (Python's XML parser) reads the source files; the Delta logs themselves are
//! read as JSON.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use common::five_ga::ingest_args;
use common::history::ingest_5ga as ingest;
use common::{cycle_stat, delta, generate, names_in, pmflow_ok, query_csv, repo, stage};
use serde_json::Value;

/// For every table of `system`, the data files each commit added, by date.
fn adds_per_commit(
    archive: &Path,
    system: &str,
) -> BTreeMap<(String, u64), BTreeMap<String, usize>> {
    let mut adds = BTreeMap::new();
    let tables = archive.join(format!("system={system}"));
    for table in names_in(&tables) {
        let log = tables.join(&table).join("_delta_log");
        for commit in names_in(&log).iter().filter(|n| n.ends_with(".json")) {
            let version: u64 = commit.trim_end_matches(".json").parse().unwrap();
            let text = std::fs::read_to_string(log.join(commit)).unwrap();
            let dates: &mut BTreeMap<String, usize> =
                adds.entry((table.clone(), version)).or_default();
            for action in text
                .lines()
                .map(|l| serde_json::from_str::<Value>(l).unwrap())
            {
                if let Some(date) = action["add"]["partitionValues"]["date"].as_str() {
                    *dates.entry(date.to_string()).or_default() += 1;
                }
            }
        }
    }
    adds
}

/// Totals of the archive at `archive` and of `files` (see [`common::delta`]).
fn independent_totals(archive: &Path, files: &[PathBuf]) -> (Value, Value) {
    delta::independent_totals(archive.to_str().unwrap(), &[], files)
}

/// Asserts the archive holds exactly the rows, values and sum of `files`.
fn assert_same_totals(archive: &Path, files: &[PathBuf]) {
    delta::assert_same_totals(archive.to_str().unwrap(), &[], files);
}

/// Six nodes' files of two periods, generated under `tmp`: (all, first period, second).
fn two_periods(tmp: &Path) -> (Vec<PathBuf>, Vec<PathBuf>, Vec<PathBuf>) {
    let generated = tmp.join("generated");
    generate(&generated, "5ga", 6, 2);
    let files: Vec<PathBuf> = names_in(&generated)
        .iter()
        .map(|n| generated.join(n))
        .collect();
    let (first_rop, second_rop): (Vec<_>, Vec<_>) = files
        .iter()
        .cloned()
        .partition(|f| f.to_string_lossy().contains(".0000+0000-0015"));
    assert_eq!((first_rop.len(), second_rop.len()), (6, 6));
    (files, first_rop, second_rop)
}

/// Data files on disk under each `table=*/date=*` folder of `system`.
fn files_on_disk(archive: &Path, system: &str) -> BTreeMap<String, usize> {
    let mut found = BTreeMap::new();
    let tables = archive.join(format!("system={system}"));
    for table in names_in(&tables) {
        for date in names_in(&tables.join(&table))
            .into_iter()
            .filter(|d| d.starts_with("date="))
        {
            let parquet = names_in(&tables.join(&table).join(&date))
                .iter()
                .filter(|n| n.ends_with(".parquet"))
                .count();
            found.insert(format!("{table}/{date}"), parquet);
        }
    }
    found
}

#[test]
fn two_cycles_with_late_files_and_copies_hold_every_row_once() {
    let tmp = tempfile::tempdir().unwrap();
    let (inbox, archive) = (tmp.path().join("inbox"), tmp.path().join("archive"));
    let (files, first_rop, second_rop) = two_periods(tmp.path());

    // Cycle 1: the first period and half of the second.
    stage(&inbox, &[&first_rop[..], &second_rop[..3]].concat());
    let stats = ingest(&inbox, &archive);
    assert_eq!(cycle_stat(&stats, "files done"), 9, "{stats}");
    let after_first = adds_per_commit(&archive, "5ga");
    assert!(!after_first.is_empty());
    for ((table, version), dates) in &after_first {
        assert_eq!(*version, 0, "{table}: one commit per cycle");
        assert!(dates.values().all(|&n| n == 1), "{table}: {dates:?}");
    }

    // Cycle 2: the late half of the second period and copies of two files already in.
    stage(&inbox, &second_rop[3..]);
    for (i, original) in first_rop[..2].iter().enumerate() {
        std::fs::copy(
            original,
            inbox.join(format!(
                "copy{i}-{}",
                original.file_name().unwrap().to_string_lossy()
            )),
        )
        .unwrap();
    }
    let stats = ingest(&inbox, &archive);
    assert_eq!(cycle_stat(&stats, "files done"), 5, "{stats}");
    for ((table, version), dates) in adds_per_commit(&archive, "5ga") {
        assert!(version <= 1, "{table}: one commit per cycle, not {version}");
        assert!(
            dates.values().all(|&n| n == 1),
            "{table} v{version}: {dates:?}"
        );
    }

    assert_same_totals(&archive, &files);
}

#[test]
fn optimize_compacts_each_day_into_one_file_and_vacuum_removes_the_replaced_ones() {
    let tmp = tempfile::tempdir().unwrap();
    let (inbox, archive) = (tmp.path().join("inbox"), tmp.path().join("archive"));
    let (files, first_rop, second_rop) = two_periods(tmp.path());
    stage(&inbox, &first_rop);
    ingest(&inbox, &archive);
    stage(&inbox, &second_rop);
    ingest(&inbox, &archive);
    let before = files_on_disk(&archive, "5ga");
    assert!(!before.is_empty());
    assert!(
        before.values().all(|&n| n == 2),
        "two cycles, two files: {before:?}"
    );
    let archive_arg = archive.to_str().unwrap();

    let optimized = pmflow_ok(&["archive", "optimize", "--archive", archive_arg]);
    assert!(optimized.contains("5ga/nrcellcu"), "{optimized}");
    assert_same_totals(&archive, &files);

    let history = pmflow_ok(&[
        "archive",
        "history",
        "--archive",
        archive_arg,
        "--system",
        "5ga",
        "--table",
        "nrcellcu",
    ]);
    let operations: Vec<(u64, String)> = history
        .lines()
        .filter_map(|line| {
            let cells: Vec<&str> = line.split(['│', '┆']).map(str::trim).collect();
            Some((cells.get(1)?.parse().ok()?, cells.get(3)?.to_string()))
        })
        .collect();
    let expected = [(2, "OPTIMIZE"), (1, "WRITE"), (0, "CREATE TABLE")];
    let expected: Vec<(u64, String)> = expected.map(|(v, o)| (v, o.to_string())).to_vec();
    assert_eq!(operations, expected, "{history}");

    let vacuumed = vacuum_everything_unused(&archive);
    let after = files_on_disk(&archive, "5ga");
    assert_eq!(
        after.keys().collect::<Vec<_>>(),
        before.keys().collect::<Vec<_>>()
    );
    assert!(
        after.values().all(|&n| n == 1),
        "a day in one file: {after:?}\n{vacuumed}"
    );
    assert_same_totals(&archive, &files);
}

/// The public 3GPP samples of `../shared/datasets/real`, as the repository keeps them
/// (`datasets/SOURCES.md`; files whose names start `A2026` are generated), a
/// compressed copy of a file that is also there plain left out: its rows are the same
/// file's.
fn real_samples() -> Vec<PathBuf> {
    let mut files = Vec::new();
    for folder in ["4ga", "5ga", "5gc", "conformance"] {
        let dir = repo().join("datasets").join(folder);
        let names = names_in(&dir);
        for name in names.iter().filter(|n| !n.starts_with("A2026")) {
            let twin = name.strip_suffix(".gz");
            if twin.is_none_or(|plain| !names.iter().any(|n| n == plain)) {
                files.push(dir.join(name));
            }
        }
    }
    assert_eq!(files.len(), 13, "{files:?}");
    files
}

#[test]
fn real_samples_ingested_together_keep_every_value_numeric() {
    let tmp = tempfile::tempdir().unwrap();
    let samples = real_samples();
    let together = tmp.path().join("together");
    stage(&tmp.path().join("all"), &samples);
    ingest(&tmp.path().join("all"), &together);
    let (all, _) = independent_totals(&together, &[]);

    // Each file alone into an archive of its own, and each in a cycle of its own into
    // one archive (columns widen from one cycle to the next).
    let one_by_one = tmp.path().join("one-by-one");
    let (mut rows, mut values, mut sum) = (0, 0, 0.0);
    for (i, sample) in samples.iter().enumerate() {
        let (inbox, alone) = (
            tmp.path().join(format!("in{i}")),
            tmp.path().join(format!("a{i}")),
        );
        stage(&inbox, std::slice::from_ref(sample));
        ingest(&inbox, &alone);
        stage(&inbox, std::slice::from_ref(sample));
        ingest(&inbox, &one_by_one);
        let (one, _) = independent_totals(&alone, &[]);
        rows += one["rows"].as_u64().unwrap();
        values += one["values"].as_u64().unwrap();
        sum += one["sum"].as_f64().unwrap();
    }
    let (sequential, _) = independent_totals(&one_by_one, &[]);
    for totals in [&all, &sequential] {
        assert_eq!(totals["rows"].as_u64().unwrap(), rows);
        assert_eq!(
            totals["values"].as_u64().unwrap(),
            values,
            "every number stays a number (vector counters as lists)"
        );
        let archived = totals["sum"].as_f64().unwrap();
        assert!(
            (archived - sum).abs() <= sum.abs() * 1e-12,
            "{archived} vs {sum}"
        );
    }
}

/// Commits in the logs of every table of `system` so far.
/// `nodes` × `rops` 5ga files generated under `tmp` and staged into `<tmp>/inbox`: the
/// inbox, the archive's path (`<tmp>/archive`) and the generated files, by name.
fn generated_in_inbox(tmp: &Path, nodes: u32, rops: u32) -> (PathBuf, PathBuf, Vec<PathBuf>) {
    let generated = tmp.join("generated");
    generate(&generated, "5ga", nodes, rops);
    let files: Vec<PathBuf> = names_in(&generated)
        .iter()
        .map(|n| generated.join(n))
        .collect();
    let inbox = tmp.join("inbox");
    stage(&inbox, &files);
    (inbox, tmp.join("archive"), files)
}

/// `pmflow archive vacuum --retain 0s`: every data file no version refers to removed;
/// its output.
fn vacuum_everything_unused(archive: &Path) -> String {
    let archive = archive.to_str().unwrap();
    pmflow_ok(&["archive", "vacuum", "--archive", archive, "--retain", "0s"])
}

fn commits(archive: &Path, system: &str) -> usize {
    adds_per_commit(archive, system).len()
}

#[test]
fn killed_during_commits_then_a_full_run_leaves_every_file_done_once_and_every_row_once() {
    let tmp = tempfile::tempdir().unwrap();
    let (inbox, archive, files) = generated_in_inbox(tmp.path(), 20, 6);
    let names: Vec<String> = files
        .iter()
        .map(|f| f.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    // Groups of 8 files: many commits, each one a moment to be killed at.
    let url = format!("parquet://{}?files_at_once=8", archive.display());
    let args = [
        "ingest",
        inbox.to_str().unwrap(),
        "--system",
        "5ga",
        "--sink",
        &url,
        "--no-settle",
    ];
    for _ in 0..4 {
        let seen = commits(&archive, "5ga");
        let mut run = std::process::Command::new(env!("CARGO_BIN_EXE_pmflow"))
            .args(args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // Killed the moment a new commit shows in a log: the commit landed, the other
        // tables' commits of the group and the moves into Done/ have not.
        let started = std::time::Instant::now();
        while commits(&archive, "5ga") == seen && started.elapsed().as_secs() < 60 {
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        run.kill().unwrap(); // SIGKILL
        run.wait().unwrap();
    }
    let done = names_in(&inbox.join("Done")).len();
    assert!(done < files.len(), "the kills fell mid-run: {done} done");

    ingest(&inbox, &archive);
    assert_eq!(names_in(&inbox), ["Done"]);
    assert_eq!(
        names_in(&inbox.join("Done")),
        names,
        "each file in Done/ once"
    );
    assert_same_totals(&archive, &files);
    let rows = query_csv(
        &archive,
        "SELECT count(*), count(DISTINCT file_id) FROM nrcellcu",
    );
    assert_eq!(rows, [format!("{},{}", files.len() * 12, files.len())]);
}

/// A file of node `n1` whose table `cell` has `objects` rows of counter `a`, then a
/// second block of the same table giving `Cell=1` a counter `b`: the whole file
/// merges it into the first row.
fn file_with_a_key_coming_back(objects: u32) -> String {
    let rows: String = (1..=objects)
        .map(|i| format!("<measValue measObjLdn=\"Cell={i}\"><r p=\"1\">{i}</r></measValue>"))
        .collect();
    let block = |counter: &str, rows: &str| {
        format!(
            "<measInfo measInfoId=\"PM=1,PmGroup=Cell\"><granPeriod duration=\"PT900S\" \
             endTime=\"2026-01-05T00:15:00Z\"/><measType p=\"1\">{counter}</measType>{rows}\
             </measInfo>"
        )
    };
    let again = "<measValue measObjLdn=\"Cell=1\"><r p=\"1\">1000</r></measValue>";
    format!(
        "<measCollecFile><measData><managedElement localDn=\"n1\"/>{}{}</measData>\
         </measCollecFile>",
        block("a", &rows),
        block("b", again),
    )
}

#[test]
fn files_read_in_parts_land_whole_or_not_at_all() {
    let tmp = tempfile::tempdir().unwrap();
    let (inbox, archive, files) = generated_in_inbox(tmp.path(), 3, 1);
    // Past 6,400 bytes a file is read in parts of 100 values: each generated file
    // (~14 KB, 360 values) in four, into the archive alone, so parts go out unchecked.
    let plan = tmp.path().join("5ga.toml");
    std::fs::write(&plan, "system = \"5ga\"\nread_whole_max_bytes = 6400\n").unwrap();
    let broken = std::fs::read(&files[0]).unwrap();
    std::fs::write(inbox.join("broken.xml"), &broken[..broken.len() - 300]).unwrap();
    std::fs::write(inbox.join("repeated.xml"), file_with_a_key_coming_back(300)).unwrap();
    let mut args = ingest_args(inbox.to_str().unwrap(), &plan, &archive);
    args.push("--no-settle".to_string());
    let stats = pmflow_ok(&args);
    assert_eq!(cycle_stat(&stats, "files done"), 4, "{stats}");
    let failed = inbox.join("Failed");
    assert_eq!(names_in(&failed), ["broken.xml", "broken.xml.reason"]);
    let reason = std::fs::read_to_string(failed.join("broken.xml.reason")).unwrap();
    assert!(reason.starts_with("broken.xml, line "), "{reason}");

    // The repeated file's 300 rows, Cell=1 merged: its parts were void.
    let cells = query_csv(
        &archive,
        "SELECT count(*), sum(a), sum(b), min(b) FROM cell WHERE ne = 'n1'",
    );
    assert_eq!(cells, ["300,45150,1000,1000"]);
    // The generated files, each committed with its last part: several data files per
    // date in one commit, and every row once.
    let staged = adds_per_commit(&archive, "5ga");
    assert!(
        staged.values().any(|dates| dates.values().any(|&n| n > 1)),
        "parts were staged: {staged:?}"
    );
    let generated_only = query_csv(
        &archive,
        "SELECT count(*), count(DISTINCT file_id) FROM nrcellcu",
    );
    assert_eq!(generated_only, [format!("{},3", 3 * 12)]);
    std::fs::remove_dir_all(archive.join("system=5ga/table=cell")).unwrap();
    assert_same_totals(&archive, &files);

    // The broken file's staged parts were never committed: vacuum removes them.
    let mut committed: BTreeMap<String, usize> = BTreeMap::new();
    for ((table, _), dates) in adds_per_commit(&archive, "5ga") {
        for (date, files) in dates {
            *committed.entry(format!("{table}/date={date}")).or_default() += files;
        }
    }
    let orphans = |on_disk: BTreeMap<String, usize>| -> usize {
        on_disk.iter().map(|(k, n)| n - committed[k]).sum()
    };
    assert!(orphans(files_on_disk(&archive, "5ga")) > 0);
    vacuum_everything_unused(&archive);
    assert_eq!(orphans(files_on_disk(&archive, "5ga")), 0);
    assert_same_totals(&archive, &files);
}

#[test]
fn files_waiting_for_the_memory_budget_do_not_hold_back_the_commit_of_those_in_flight() {
    let tmp = tempfile::tempdir().unwrap();
    let (inbox, archive, files) = generated_in_inbox(tmp.path(), 50, 2);
    // 1 MiB holds ~36 of these files (~14 KB, estimated at twice that): a group of
    // 256 never fills, and the files waiting for memory are not on their way, so
    // each group commits once the files in flight arrived — not after an hour.
    let plan = tmp.path().join("5ga.toml");
    let url = format!("parquet://{}?group_wait_ms=3600000", archive.display());
    std::fs::write(
        &plan,
        format!("system = \"5ga\"\n[workers]\nmemory_mb = 1\n[[sink]]\nurl = {url:?}\n"),
    )
    .unwrap();
    let mut run = std::process::Command::new(env!("CARGO_BIN_EXE_pmflow"))
        .args(["ingest", "--no-settle", "--plan"])
        .arg(&plan)
        .arg(&inbox)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(status) = run.try_wait().unwrap() {
            break status;
        }
        if started.elapsed().as_secs() > 300 {
            run.kill().unwrap();
            panic!("ingest stalled: a commit waited for files that could not come");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert!(status.success());
    assert_eq!(names_in(&inbox.join("Done")).len(), 100);
    let commits = adds_per_commit(&archive, "5ga");
    let nrcellcu = commits
        .keys()
        .filter(|(t, _)| t == "table=nrcellcu")
        .count();
    assert!(
        nrcellcu >= 3,
        "groups bounded by memory: {nrcellcu} commits"
    );
    assert_same_totals(&archive, &files);
}

/// Hive files (`date=*/<16 hex digits>[-<part>].parquet`) anywhere under `dir`.
fn hive_files(dir: &Path) -> usize {
    let mut count = 0;
    for name in names_in(dir) {
        let path = dir.join(&name);
        if path.is_dir() {
            count += hive_files(&path);
        } else if let Some(stem) = name.strip_suffix(".parquet") {
            let id = stem.split('-').next().unwrap_or_default();
            let in_date = dir
                .file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("date=");
            count += usize::from(in_date && id.len() == 16 && !stem.starts_with("part-"));
        }
    }
    count
}

#[test]
fn an_archive_of_the_earlier_hive_layout_converts_in_place_keeping_every_value() {
    let tmp = tempfile::tempdir().unwrap();
    let samples = real_samples();
    let (delta, hive) = (tmp.path().join("delta"), tmp.path().join("hive"));
    stage(&tmp.path().join("in"), &samples);
    ingest(&tmp.path().join("in"), &delta);
    // The same rows as an earlier pmflow archived them, written by pyarrow.
    let written = std::process::Command::new("python3")
        .arg(repo().join("tests/delta/to_hive.py"))
        .args([&delta, &hive])
        .arg("5ga")
        .output()
        .expect("python3 runs");
    assert!(written.status.success(), "{written:?}");
    let files: usize = String::from_utf8_lossy(&written.stdout)
        .trim()
        .parse()
        .unwrap();
    assert_eq!(hive_files(&hive), files);
    assert!(files > samples.len());

    let hive_arg = hive.to_str().unwrap();
    let converted = pmflow_ok(&["archive", "convert", "--archive", hive_arg]);
    assert!(converted.contains("5ga/eutrancellfdd"), "{converted}");
    assert_eq!(
        hive_files(&hive),
        0,
        "every hive file converted and removed"
    );
    let (expected, _) = independent_totals(&delta, &[]);
    let (after, _) = independent_totals(&hive, &[]);
    assert_eq!(
        after, expected,
        "rows, numbers (vectors as lists again) and sum"
    );

    // Again: nothing left to do. The source files again: the ledger holds them.
    let again = pmflow_ok(&["archive", "convert", "--archive", hive_arg]);
    assert!(!again.contains("5ga/"), "{again}");
    stage(&tmp.path().join("again"), &samples);
    ingest(&tmp.path().join("again"), &hive);
    assert_eq!(independent_totals(&hive, &[]).0, expected);
}
