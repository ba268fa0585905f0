//! Checkpoint rotation, the fallback to `engine.state.prev`, and start-up after a crash between
//! any two steps of a checkpoint.

use super::wal::{closed_segments, segment_path, NEXT_FILE, WAL_FILE};
use super::*;
use crate::ingest::take::{take_message, take_record};

const H: i64 = 3_600_000;

/// `dcpue serve` as far as the store sees it: messages logged and taken, checkpoints.
struct Sim {
    cfg: Config,
    engine: Engine,
    wal: Wal,
    t0: i64,
    taken: i64,
}

fn config(dir: &Path) -> Config {
    // The smallest valid config (the config tests' own), with a storage dir.
    let text = format!(
        "[storage]\ndir = \"{}\"\n{}",
        dir.display(),
        crate::config::tests::MINIMAL
    );
    Config::parse(&text, "t.toml").unwrap()
}

impl Sim {
    fn new(dir: &Path) -> Sim {
        let cfg = config(dir);
        let (wal, _) = Wal::open(dir).unwrap();
        let now = chrono::Utc::now().timestamp_millis();
        Sim {
            engine: Engine::new(&cfg),
            cfg,
            wal,
            t0: (now - 20 * H) / H * H,
            taken: 0,
        }
    }

    /// Logs and takes `n` minutes of both meters (2 messages a minute).
    fn take(&mut self, n: i64) {
        let now = chrono::Utc::now().timestamp_millis();
        for _ in 0..n {
            let ts = self.t0 + self.taken * 60_000;
            for (m, kw) in [("grid", 1300.0), ("it", 1000.0)] {
                let topic = format!("dc/a-1/{m}");
                let payload = format!(r#"{{"ts":{ts},"power_kw":{kw}}}"#);
                self.wal.append(now, &topic, payload.as_bytes()).unwrap();
                take_message(
                    &mut self.engine,
                    "dc",
                    &topic,
                    payload.as_bytes(),
                    now,
                    &mut |_| {},
                );
            }
            self.taken += 1;
        }
        self.wal.sync().unwrap();
    }

    /// `Service::checkpoint`, step by step up to `until` (a crash after it).
    fn checkpoint_until(&mut self, until: Step) {
        self.wal.sync().unwrap();
        let mark = mark(self.wal.last_seq());
        self.wal.rotate().unwrap();
        if until == Step::Rotated {
            return;
        }
        let dir = self.cfg.storage.dir.clone();
        if until == Step::TmpWritten || until == Step::StateRenamedToPrev {
            // As `checkpoint` does, stopped half-way.
            checkpoint(&dir, &self.engine, &mark).unwrap();
            // Undo the last two renames to recreate the moment of the crash.
            fs::rename(state_path(&dir), dir.join(TMP_FILE)).unwrap();
            if until == Step::TmpWritten && prev_path(&dir).exists() {
                fs::rename(prev_path(&dir), state_path(&dir)).unwrap();
            }
            return;
        }
        checkpoint(&dir, &self.engine, &mark).unwrap();
        if until == Step::Renamed {
            return;
        }
        self.wal.checkpointed_at(mark.wal_seq).unwrap();
    }

    fn checkpoint(&mut self) {
        self.checkpoint_until(Step::Done)
    }

    /// What the engine holds, after event time caught up.
    fn fingerprint(&mut self) -> Vec<u8> {
        fingerprint(&mut self.engine)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Rotated,
    TmpWritten,
    StateRenamedToPrev,
    Renamed,
    Done,
}

fn fingerprint(engine: &mut Engine) -> Vec<u8> {
    engine.advance(&mut |_| {});
    postcard::to_stdvec(&engine.saved_state()).unwrap()
}

fn accepted(engine: &Engine) -> u64 {
    engine.counters().accepted.iter().map(|(_, n)| n).sum()
}

/// `serve`'s start: open, take the records again; the engine and the next sequence number.
fn start(dir: &Path) -> Result<(Engine, Wal, bool), StoreError> {
    let cfg = config(dir);
    let mut o = open(&cfg)?;
    let routes = crate::ingest::gateway::Routes::new(&cfg);
    for r in &o.replay {
        take_record(&mut o.engine, &routes, r, &mut |_| {});
    }
    Ok((o.engine, o.wal, o.fell_back))
}

/// A mark at `wal_seq`, with no messages or meters remembered.
fn mark(wal_seq: u64) -> IngestMark {
    IngestMark {
        wal_seq,
        ..Default::default()
    }
}

/// `serve`'s checkpoint of a started engine, all of it: the log synced and rotated, the file
/// written, the segments no checkpoint needs removed.
fn checkpoint_now(dir: &Path, engine: &Engine, w: &mut Wal) {
    w.sync().unwrap();
    let mark = mark(w.last_seq());
    w.rotate().unwrap();
    checkpoint(dir, engine, &mark).unwrap();
    w.checkpointed_at(mark.wal_seq).unwrap();
}

/// A start that is refused: its message, and the repair command it prints (the last text
/// between backquotes).
fn refused(dir: &Path) -> (String, String) {
    let e = start(dir).err().expect("refused").to_string();
    let cmd = e
        .rsplit_once('`')
        .and_then(|(before, _)| before.rsplit_once('`'))
        .map(|(_, cmd)| cmd.to_string())
        .unwrap_or_else(|| panic!("no repair command in: {e}"));
    (e, cmd)
}

/// Runs a printed repair command as a user would paste it.
fn run_repair(cmd: &str) {
    let st = std::process::Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .status()
        .unwrap();
    assert!(st.success(), "{cmd}");
}

/// The last sequence number of each closed segment.
fn segment_ends(dir: &Path) -> Vec<u64> {
    closed_segments(dir)
        .unwrap()
        .into_iter()
        .map(|s| s.0)
        .collect()
}

/// The mark of `engine.state.prev`.
fn prev_mark(dir: &Path) -> u64 {
    load_file(&prev_path(dir)).unwrap().unwrap().ingest.wal_seq
}

/// A checkpoint at record 40, then a crash after the next one rotated the log: records 41–70
/// are only in the closed segment.
fn crashed_after_rotation(dir: &Path) -> Sim {
    let mut s = Sim::new(dir);
    s.take(20);
    s.checkpoint();
    s.take(15);
    s.checkpoint_until(Step::Rotated);
    s
}

fn flip(path: &Path, at: usize) {
    let mut b = fs::read(path).unwrap();
    let i = at.min(b.len() - 1);
    b[i] ^= 0x5a;
    fs::write(path, b).unwrap();
}

/// Two checkpoints and records after each: engine.state, engine.state.prev, and the log since
/// the previous one.
fn two_checkpoints(dir: &Path) -> Sim {
    let mut s = Sim::new(dir);
    s.take(30);
    s.checkpoint();
    s.take(40);
    s.checkpoint();
    s.take(25);
    s
}

#[test]
fn a_checkpoint_keeps_the_previous_one_and_the_log_since_it() {
    let d = tempfile::tempdir().unwrap();
    let mut s = two_checkpoints(d.path());
    let prev = load_file(&prev_path(d.path())).unwrap().unwrap();
    let state = load(d.path()).unwrap().unwrap();
    assert_eq!((prev.ingest.wal_seq, state.ingest.wal_seq), (60, 140));
    // The first segment (records 1–60) is no longer needed; 61–140 are, for the fallback.
    assert_eq!(segment_ends(d.path()), [140]);
    assert_eq!(wal::read_records(d.path()).unwrap().len(), 50);
    // A third checkpoint: the previous one now has mark 140, so records 141–190 (the newest
    // closed segment) are kept and the segment up to 140 goes.
    s.checkpoint();
    assert_eq!(segment_ends(d.path()), [190]);
    assert_eq!(prev_mark(d.path()), 140);
    // Nothing new: a checkpoint rotates nothing and the numbering goes on.
    s.checkpoint();
    assert!(closed_segments(d.path()).unwrap().is_empty());
    s.take(1);
    assert_eq!(s.wal.last_seq(), 192);
}

#[test]
fn a_damaged_checkpoint_falls_back_to_the_previous_one_and_the_log() {
    let d = tempfile::tempdir().unwrap();
    let mut s = two_checkpoints(d.path());
    let want = s.fingerprint();
    drop(s);
    let state_len = fs::metadata(state_path(d.path())).unwrap().len();
    type Damage = Box<dyn Fn(&Path)>;
    let damages: Vec<(&str, Damage)> = vec![
        ("flipped byte", Box::new(|p| flip(p, 4000))),
        (
            "truncated",
            Box::new(move |p| {
                fs::OpenOptions::new()
                    .write(true)
                    .open(p)
                    .unwrap()
                    .set_len(state_len / 2)
                    .unwrap()
            }),
        ),
        ("bad header", Box::new(|p| flip(p, 2))),
        ("empty", Box::new(|p| fs::write(p, b"").unwrap())),
        ("missing", Box::new(|p| fs::remove_file(p).unwrap())),
    ];
    for (what, damage) in damages {
        let c = tempfile::tempdir().unwrap();
        copy(d.path(), c.path());
        damage(&state_path(c.path()));
        // A reader sees the same, without changing anything.
        let before = listing(c.path());
        let mut read = crate::report::load_engine(&config(c.path())).unwrap();
        assert_eq!(fingerprint(&mut read), want, "{what}: report");
        assert_eq!(
            listing(c.path()),
            before,
            "{what}: the reader changed nothing"
        );

        let (mut e, mut w, fell_back) = start(c.path()).unwrap();
        assert!(fell_back, "{what}");
        assert_eq!(accepted(&e), 190, "{what}");
        assert_eq!(fingerprint(&mut e), want, "{what}: the same state");
        assert_eq!(w.last_seq(), 190, "{what}: numbering continues");
        // The damaged file is kept aside, the good previous one stays.
        let aside = fs::read_dir(c.path())
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .starts_with("engine.state.bad-")
            })
            .count();
        assert_eq!(aside, usize::from(what != "missing"), "{what}");
        assert!(!state_path(c.path()).exists(), "{what}");
        assert!(prev_path(c.path()).exists(), "{what}");
        // `serve` checkpoints at once: the previous checkpoint stays the fallback.
        checkpoint_now(c.path(), &e, &mut w);
        assert_eq!(prev_mark(c.path()), 60, "{what}");
        flip(&state_path(c.path()), 5000);
        let (mut e, _, _) = start(c.path()).unwrap();
        assert_eq!(fingerprint(&mut e), want, "{what}: and again");
    }
}

#[test]
fn both_checkpoints_damaged_is_refused_with_a_command_that_starts_from_the_log() {
    let d = tempfile::tempdir().unwrap();
    two_checkpoints(d.path());
    flip(&state_path(d.path()), 4000);
    flip(&prev_path(d.path()), 4000);
    let before = listing(d.path());
    let (e, cmd) = refused(d.path());
    assert_eq!(listing(d.path()), before, "nothing changed");
    assert!(e.contains("checksum mismatch"), "{e}");
    assert!(e.contains("readings before record 61 are lost"), "{e}");
    assert_eq!(cmd, move_both_aside(d.path()));
    run_repair(&cmd);
    let (e, w, _) = start(d.path()).unwrap();
    assert_eq!(
        accepted(&e),
        130,
        "records 61–190: what the log still holds"
    );
    assert_eq!(w.last_seq(), 190);
}

/// The repair that starts from the log alone: both checkpoints moved aside.
fn move_both_aside(dir: &Path) -> String {
    let sp = state_path(dir).display().to_string();
    let pp = prev_path(dir).display().to_string();
    format!("mv {sp} {sp}.bad && mv {pp} {pp}.bad")
}

#[test]
fn a_damaged_previous_checkpoint_alone_changes_nothing() {
    let d = tempfile::tempdir().unwrap();
    let mut s = two_checkpoints(d.path());
    let want = s.fingerprint();
    drop(s);
    flip(&prev_path(d.path()), 4000);
    let (mut e, _, fell_back) = start(d.path()).unwrap();
    assert!(!fell_back);
    assert_eq!(fingerprint(&mut e), want);
}

#[test]
fn without_a_previous_checkpoint_the_whole_log_stands_in() {
    let d = tempfile::tempdir().unwrap();
    let mut s = Sim::new(d.path());
    s.take(30);
    s.checkpoint();
    s.take(10);
    let want = s.fingerprint();
    drop(s);
    assert!(!prev_path(d.path()).exists());
    flip(&state_path(d.path()), 4000);
    let (mut e, _, _) = start(d.path()).unwrap();
    assert_eq!(fingerprint(&mut e), want);
}

#[test]
fn a_gap_in_the_log_after_the_previous_checkpoint_is_refused() {
    let d = tempfile::tempdir().unwrap();
    two_checkpoints(d.path());
    flip(&state_path(d.path()), 4000);
    // Records 61–140 lost.
    fs::remove_file(segment_path(d.path(), 140)).unwrap();
    let (e, cmd) = refused(d.path());
    assert!(e.contains("records 61–140 are missing"), "{e}");
    assert_eq!(cmd, move_both_aside(d.path()));
}

#[test]
fn a_crash_between_any_two_steps_of_a_checkpoint_loses_nothing() {
    for until in [
        Step::Rotated,
        Step::TmpWritten,
        Step::StateRenamedToPrev,
        Step::Renamed,
    ] {
        for checkpoints_before in [0, 1, 2] {
            let d = tempfile::tempdir().unwrap();
            let mut s = Sim::new(d.path());
            for _ in 0..checkpoints_before {
                s.take(20);
                s.checkpoint();
            }
            s.take(15);
            s.checkpoint_until(until);
            let want = s.fingerprint();
            let n = s.wal.last_seq();
            drop(s);
            let what = format!("crash after {until:?}, {checkpoints_before} checkpoints before");
            let (mut e, mut w, _) = start(d.path()).unwrap();
            assert_eq!(fingerprint(&mut e), want, "{what}");
            assert_eq!(w.last_seq(), n, "{what}");
            assert!(
                !d.path().join(TMP_FILE).exists(),
                "{what}: leftover removed"
            );
            // And the checkpoints after it keep working.
            w.append(0, "dc/a-1/x", b"{}").unwrap();
            checkpoint_now(d.path(), &e, &mut w);
            let (_, w, _) = start(d.path()).unwrap();
            assert_eq!(w.last_seq(), n + 1, "{what}");
        }
    }
}

#[test]
fn a_crash_mid_rotation_loses_nothing() {
    let d = tempfile::tempdir().unwrap();
    let mut s = Sim::new(d.path());
    s.take(20);
    s.checkpoint();
    s.take(15);
    let want = s.fingerprint();
    drop(s);
    // The active segment renamed to its closed name, the next one not yet in place.
    fs::rename(d.path().join(WAL_FILE), segment_path(d.path(), 70)).unwrap();
    fs::write(d.path().join(NEXT_FILE), b"").unwrap();
    let (mut e, w, _) = start(d.path()).unwrap();
    assert_eq!(fingerprint(&mut e), want);
    assert_eq!(w.last_seq(), 70);
    assert!(!d.path().join(NEXT_FILE).exists());
}

#[test]
fn a_damaged_closed_segment_the_checkpoint_needs_is_refused_with_truncate() {
    let d = tempfile::tempdir().unwrap();
    drop(crashed_after_rotation(d.path()));
    let seg = segment_path(d.path(), 70);
    let len = fs::metadata(&seg).unwrap().len() as usize;
    flip(&seg, len / 2);
    let (e, cmd) = refused(d.path());
    assert!(
        e.contains("checksum mismatch") && e.contains("truncate -s "),
        "{e}"
    );
    assert!(cmd.ends_with(&seg.display().to_string()), "{cmd}");
    run_repair(&cmd);
    let (e, w, _) = start(d.path()).unwrap();
    let got = accepted(&e);
    assert!(
        (40..70).contains(&got),
        "the records before the damage: {got}"
    );
    assert_eq!(
        w.last_seq(),
        70,
        "numbering goes on after the segment's name"
    );
}

fn copy(from: &Path, to: &Path) {
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        // A file renamed meanwhile (by a checkpoint being written) is not copied.
        match fs::copy(e.path(), to.join(e.file_name())) {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => panic!("{e}"),
        }
    }
}

fn listing(dir: &Path) -> Vec<(String, u64)> {
    let mut v: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().to_string(),
                e.metadata().unwrap().len(),
            )
        })
        .collect();
    v.sort();
    v
}

#[test]
fn a_checkpoint_written_in_the_background_while_ingest_goes_on() {
    let d = tempfile::tempdir().unwrap();
    let mut s = Sim::new(d.path());
    s.take(20);
    s.checkpoint();
    s.take(15);
    let dir = d.path().to_path_buf();
    checkpoint_in_background(&dir, &s.engine, mark(s.wal.last_seq()), &mut s.wal).unwrap();
    assert!(s.wal.checkpoint_pending());
    // Messages keep coming while the file is written: into the new segment.
    s.take(10);
    // A crash now, wherever the writer is (the copy may catch it mid-way), loses nothing.
    let want = s.fingerprint();
    {
        let c = tempfile::tempdir().unwrap();
        copy(d.path(), c.path());
        let (mut e, w, _) = start(c.path()).unwrap();
        assert_eq!(fingerprint(&mut e), want);
        assert_eq!(w.last_seq(), 90);
    }
    s.wal.finish_checkpoint().unwrap();
    assert!(!s.wal.checkpoint_pending());
    assert_eq!(load(&dir).unwrap().unwrap().ingest.wal_seq, 70);
    assert_eq!(prev_mark(&dir), 40);
    assert_eq!(
        segment_ends(&dir),
        [70],
        "records 41–70 kept for engine.state.prev"
    );
    drop(s);
    flip(&state_path(&dir), 3000);
    let (mut e, _, fell_back) = start(&dir).unwrap();
    assert!(fell_back);
    assert_eq!(fingerprint(&mut e), want);
}

#[test]
fn a_deleted_active_segment_is_refused_and_touch_accepts_the_loss() {
    let d = tempfile::tempdir().unwrap();
    let s = two_checkpoints(d.path());
    let logged = s.wal.last_seq();
    drop(s);
    // Records 141–190, acknowledged, were only in the active segment.
    let active = d.path().join(WAL_FILE);
    fs::remove_file(&active).unwrap();
    let (e, cmd) = refused(d.path());
    assert!(
        e.contains("is missing") && e.contains("after record 140"),
        "{e}"
    );
    assert_eq!(cmd, format!("touch {}", active.display()));
    run_repair(&cmd);
    let (e, w, _) = start(d.path()).unwrap();
    assert_eq!(accepted(&e), 140, "the checkpoint's, as accepted");
    assert!(w.last_seq() < logged);
}

#[test]
fn a_new_directory_and_a_crash_mid_rotation_need_no_active_segment() {
    let d = tempfile::tempdir().unwrap();
    let (e, w, _) = start(d.path()).unwrap();
    assert_eq!((accepted(&e), w.last_seq()), (0, 0));
    assert!(d.path().join(WAL_FILE).exists());
}

#[test]
fn a_deleted_closed_segment_the_checkpoint_needs_is_refused_and_touch_accepts_the_loss() {
    let d = tempfile::tempdir().unwrap();
    let mut s = crashed_after_rotation(d.path());
    s.take(10);
    drop(s);
    let seg = segment_path(d.path(), 70);
    fs::remove_file(&seg).unwrap();
    let (e, cmd) = refused(d.path());
    assert!(e.contains("records 41–70") && e.contains("missing"), "{e}");
    assert_eq!(cmd, format!("touch {}", seg.display()));
    run_repair(&cmd);
    let (e, w, _) = start(d.path()).unwrap();
    assert_eq!(
        accepted(&e),
        60,
        "the checkpoint's 40 and the 20 after the hole"
    );
    assert_eq!(w.last_seq(), 90);
}

#[test]
fn when_each_meter_was_last_heard_is_kept_with_the_checkpoint() {
    let d = tempfile::tempdir().unwrap();
    let mut s = Sim::new(d.path());
    s.take(3);
    let heard = vec![MeterHeard {
        facility: "a-1".into(),
        meter: "grid".into(),
        wall_ms: 1_795_806_000_000,
    }];
    let mark = IngestMark {
        wal_seq: s.wal.last_seq(),
        recent_messages: vec![7],
        last_heard: heard.clone(),
    };
    s.wal.rotate().unwrap();
    checkpoint(d.path(), &s.engine, &mark).unwrap();
    drop(s);
    let o = open(&config(d.path())).unwrap();
    assert_eq!(o.mark, mark);
}

/// A checkpoint of format version 1 (before `last_heard` and `gateway_error`), as an older
/// dcpue wrote it.
#[test]
fn a_version_1_checkpoint_is_still_read() {
    #[derive(Serialize)]
    struct V1 {
        version: u32,
        config: String,
        state: crate::engine::SavedStateV1,
        ingest: (u64, Vec<u64>),
    }
    let d = tempfile::tempdir().unwrap();
    let mut s = Sim::new(d.path());
    s.take(5);
    let want = read_back_before_v4(&s);
    let saved = s.engine.saved_state();
    let body = postcard::to_stdvec(&V1 {
        version: 1,
        config: toml::to_string(s.engine.config()).unwrap(),
        state: crate::engine::SavedStateV1::downgrade(saved),
        ingest: (10, vec![1, 2]),
    })
    .unwrap();
    write_state_file(d.path(), &body);
    let l = load(d.path()).unwrap().unwrap();
    assert_eq!(
        (l.ingest.wal_seq, &l.ingest.recent_messages[..]),
        (10, &[1, 2][..])
    );
    assert!(l.ingest.last_heard.is_empty());
    let (mut e, _) = from_loaded(&s.cfg, l).unwrap();
    assert_eq!(fingerprint_before_v4(&mut e), want);
}

/// A checkpoint file holding `body` (as a dcpue of any format frames it).
fn write_state_file(dir: &Path, body: &[u8]) {
    let mut bytes = MAGIC.to_vec();
    bytes.extend((body.len() as u64).to_le_bytes());
    bytes.extend(crc32fast::hash(body).to_le_bytes());
    bytes.extend(body);
    fs::write(state_path(dir), bytes).unwrap();
}

/// The sim's state written as this version writes it and read back, as formats before 4 hold
/// it.
fn read_back_before_v4(s: &Sim) -> Vec<u8> {
    let d = tempfile::tempdir().unwrap();
    checkpoint(d.path(), &s.engine, &IngestMark::default()).unwrap();
    let (mut e, _) = from_loaded(&s.cfg, load(d.path()).unwrap().unwrap()).unwrap();
    fingerprint_before_v4(&mut e)
}

/// The state as formats before 4 hold it: without each meter's first reading.
fn fingerprint_before_v4(engine: &mut Engine) -> Vec<u8> {
    engine.advance(&mut |_| {});
    let mut st = engine.saved_state();
    st.first_readings.clear();
    postcard::to_stdvec(&st).unwrap()
}

/// Format 4's layout does not depend on where the engine keeps each meter's first reading (in
/// its slot): a slot is saved as its id, three roles, weight and state, as format 4 was first
/// written, and the first readings apart, after the facilities.
#[test]
fn format_4_saves_a_meter_slot_without_its_first_reading() {
    #[derive(Serialize)]
    struct SlotAsSaved<'a> {
        id: &'a str,
        total: bool,
        it: bool,
        renewable: bool,
        weight: f64,
        state: &'a crate::engine::meter::MeterState,
    }
    let d = tempfile::tempdir().unwrap();
    let mut s = Sim::new(d.path());
    s.take(5);
    let saved = s.engine.saved_state();
    let slot = &saved.facilities[0].meters[0];
    assert!(slot.first.is_some());
    let want = SlotAsSaved {
        id: &slot.id,
        total: slot.total,
        it: slot.it,
        renewable: slot.renewable,
        weight: slot.weight,
        state: &slot.state,
    };
    assert_eq!(
        postcard::to_stdvec(slot).unwrap(),
        postcard::to_stdvec(&want).unwrap()
    );
    let first = saved
        .first_readings
        .iter()
        .find(|f| f.facility == saved.facilities[0].id && f.meter == slot.id)
        .map(|f| f.reading);
    assert_eq!(first, slot.first);
}

/// A checkpoint of format version 3 (readings without `quality`, without each meter's first
/// reading) is read with all the rest: every reading metered, the same results; its meters have
/// no first reading (an import bounds them by their stored buckets).
#[test]
fn a_version_3_checkpoint_is_still_read() {
    #[derive(Serialize)]
    struct V3 {
        version: u32,
        config: String,
        state: crate::engine::SavedStateV3,
        ingest: IngestMark,
    }
    let d = tempfile::tempdir().unwrap();
    let mut s = Sim::new(d.path());
    s.take(5);
    let want = read_back_before_v4(&s);
    let saved = s.engine.saved_state();
    assert!(!saved.first_readings.is_empty());
    let body = postcard::to_stdvec(&V3 {
        version: 3,
        config: toml::to_string(s.engine.config()).unwrap(),
        state: crate::engine::SavedStateV3::downgrade(saved),
        ingest: IngestMark {
            wal_seq: 7,
            recent_messages: vec![1],
            last_heard: vec![],
        },
    })
    .unwrap();
    write_state_file(d.path(), &body);
    let l = load(d.path()).unwrap().unwrap();
    assert_eq!(
        (l.ingest.wal_seq, &l.ingest.recent_messages[..]),
        (7, &[1][..])
    );
    assert!(l.state.first_readings.is_empty());
    let (mut e, _) = from_loaded(&s.cfg, l).unwrap();
    assert_eq!(fingerprint_before_v4(&mut e), want);
}

#[test]
fn after_a_clean_stop_a_missing_active_segment_loses_nothing() {
    let d = tempfile::tempdir().unwrap();
    let mut s = Sim::new(d.path());
    s.take(10);
    s.checkpoint();
    let n = s.wal.last_seq();
    drop(s);
    stopped_cleanly(d.path(), n).unwrap();
    fs::remove_file(d.path().join(WAL_FILE)).unwrap();
    let (e, mut w, _) = start(d.path()).unwrap();
    assert_eq!(accepted(&e), 20);
    assert!(!d.path().join(STOPPED_FILE).exists(), "the note is used up");
    // This run logs after the checkpoint: its active segment deleted is refused again.
    w.append(0, "dc/a-1/grid", b"{}").unwrap();
    w.sync().unwrap();
    drop(w);
    fs::remove_file(d.path().join(WAL_FILE)).unwrap();
    let e = start(d.path()).err().expect("refused").to_string();
    assert!(e.contains("is missing"), "{e}");
}

/// A checkpoint written before the `gateway_error` reason (format 2: with `last_heard`) is read
/// with every counter.
#[test]
fn a_version_2_checkpoint_is_upgraded_with_its_counters() {
    #[derive(Serialize)]
    struct V2 {
        version: u32,
        config: String,
        state: crate::engine::SavedStateV1,
        ingest: IngestMark,
    }
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    let mut engine = Engine::new(&cfg);
    let fid = cfg.facilities[0].id().to_string();
    engine.count_rejected(Some(&fid), crate::engine::Reason::Glitch, 3);
    engine.count_rejected(None, crate::engine::Reason::Malformed, 2);
    let heard = vec![MeterHeard {
        facility: fid.clone(),
        meter: "grid".into(),
        wall_ms: 1_795_806_000_000,
    }];
    let body = postcard::to_stdvec(&V2 {
        version: 2,
        config: toml::to_string(engine.config()).unwrap(),
        state: crate::engine::SavedStateV1::downgrade(engine.saved_state()),
        ingest: IngestMark {
            wal_seq: 0,
            recent_messages: vec![],
            last_heard: heard.clone(),
        },
    })
    .unwrap();
    write_state_file(dir.path(), &body);
    let loaded = load(dir.path()).unwrap().unwrap();
    assert_eq!(loaded.ingest.last_heard, heard);
    assert_eq!(
        loaded.state.facilities[0].rejected[crate::engine::Reason::Glitch.index()],
        3
    );
    assert_eq!(
        loaded.state.unknown_rejected[crate::engine::Reason::Malformed.index()],
        2
    );
    assert_eq!(
        loaded.state.facilities[0].rejected[crate::engine::Reason::GatewayError.index()],
        0
    );
    // and written again in the current format
    checkpoint(dir.path(), &engine, &IngestMark::default()).unwrap();
    assert!(load(dir.path()).unwrap().is_some());
}
