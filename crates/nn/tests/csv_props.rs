//! The CSV loader against generated input, 22,000 cases per run:
//! - valid tables written with benign variations (CRLF, padding, blank lines anywhere, a
//!   missing or extra final newline, a byte-order mark, several float syntaxes) parse back
//!   exactly, in f32 and f64;
//! - the same tables with one hostile change (an extra or missing column, a non-number, NaN,
//!   infinity or overflow, a bad or out-of-range label, a header row, a blank file) give exactly
//!   the error the docs of `load_csv` promise, at the right line and column; a truncated one
//!   gives a consistent result;
//! - random bytes, through `load_csv` from a file: a typed error or a consistent parse, never a
//!   panic, and an error is never reported past the first bad line.

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::{Index, select};
use rand::{RngExt, SeedableRng, rngs::StdRng};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use tapegrad_autograd::{Float, Tensor};
use tapegrad_nn::data::{DataError, Dataset, load_csv, parse_csv};
use testkit::{TempDir, proptest_config};

/// Valid tables per precision per run.
const VALID_CASES: u32 = 1_000;
/// Tables with one hostile change per run.
const MUTATED_CASES: u32 = 10_000;
/// Random byte strings per run.
const GARBAGE_CASES: u32 = 10_000;

/// A table: rows of features and a label, all rows as wide, and the class count to pass.
#[derive(Clone, Debug)]
struct Table {
    rows: Vec<(Vec<f64>, usize)>,
    num_classes: Option<usize>,
}

impl Table {
    fn width(&self) -> usize {
        self.rows[0].0.len()
    }

    fn dataset<T: Float>(&self) -> Dataset<T> {
        let features = self.rows.iter().flat_map(|(x, _)| x.iter().map(|&v| T::from_f64(v))).collect();
        let labels: Vec<usize> = self.rows.iter().map(|&(_, l)| l).collect();
        let classes = self.num_classes.unwrap_or_else(|| labels.iter().max().unwrap() + 1);
        Dataset::new(Tensor::from_vec([self.rows.len(), self.width()], features), labels, classes)
    }
}

/// A value of `T` (any finite one, huge and subnormal included, or a small readable one),
/// widened to f64.
fn value<T: Float>() -> BoxedStrategy<f64> {
    let any_finite = if T::NAME == "f32" {
        use proptest::num::f32::*;
        (NORMAL | SUBNORMAL | ZERO | POSITIVE | NEGATIVE).prop_map(f64::from).boxed()
    } else {
        use proptest::num::f64::*;
        (NORMAL | SUBNORMAL | ZERO | POSITIVE | NEGATIVE).boxed()
    };
    prop_oneof![(-20..20i32).prop_map(|k| f64::from(k) / 4.0), any_finite].boxed()
}

/// 1 to 8 rows of 1 to 5 features of `T`, labels below 10, and the class count given or not.
fn table<T: Float>() -> impl Strategy<Value = Table> {
    (1..=5usize, 1..=8usize)
        .prop_flat_map(|(width, rows)| {
            (vec((vec(value::<T>(), width), 0..10usize), rows), prop_oneof![Just(None), (0..3usize).prop_map(Some)])
        })
        .prop_map(|(rows, extra)| {
            let max = rows.iter().map(|&(_, l)| l).max().unwrap();
            Table { rows, num_classes: extra.map(|e| max + 1 + e) }
        })
}

/// How one feature is written: `T`'s shortest round-trip form, with a `+` sign, or the widened
/// f64 in exponent form (also exact).
fn write_feature<T: Float>(v: f64, style: u8) -> String {
    match style % 4 {
        0 | 1 => format!("{}", T::from_f64(v)),
        2 => format!("{:+}", T::from_f64(v)),
        _ => format!("{v:e}"),
    }
}

/// Each row's fields as text.
fn fields<T: Float>(table: &Table, rng: &mut StdRng) -> Vec<Vec<String>> {
    table
        .rows
        .iter()
        .map(|(x, label)| {
            let mut row: Vec<String> = x.iter().map(|&v| write_feature::<T>(v, rng.random())).collect();
            // Leading zeros are still a decimal integer.
            row.push(if rng.random_ratio(1, 8) { format!("00{label}") } else { label.to_string() });
            row
        })
        .collect()
}

/// The text of `rows` with benign variations drawn from `rng`, and the line number of each row.
///
/// Variations: `\n` or `\r\n` per line; spaces and tabs around fields; blank or whitespace-only
/// lines before any row and at the end; the last newline there or not; a leading BOM; and an
/// optional first line (a header).
fn serialize(rows: &[Vec<String>], header: Option<&str>, rng: &mut StdRng) -> (String, Vec<usize>) {
    let mut text = String::new();
    if rng.random_ratio(1, 5) {
        text.push('\u{feff}');
    }
    let eol = |rng: &mut StdRng| if rng.random() { "\n" } else { "\r\n" };
    let pad = |rng: &mut StdRng| ["", "", " ", "\t", "  "][rng.random_range(0..5)];
    let blank = |rng: &mut StdRng| ["", " ", "\t", " \t "][rng.random_range(0..4)];
    let mut line = 1;
    if let Some(h) = header {
        text += h;
        text += eol(rng);
        line += 1;
    }
    let mut lines = Vec::new();
    for (r, row) in rows.iter().enumerate() {
        for _ in 0..if rng.random_ratio(1, 4) { rng.random_range(1..=2) } else { 0 } {
            text += blank(rng);
            text += eol(rng);
            line += 1;
        }
        lines.push(line);
        for (j, field) in row.iter().enumerate() {
            if j > 0 {
                text.push(',');
            }
            let (before, after) = (pad(rng), pad(rng));
            let _ = write!(text, "{before}{field}{after}");
        }
        let trailing_blanks = if r + 1 == rows.len() { rng.random_range(0..=2) } else { 0 };
        if r + 1 < rows.len() || trailing_blanks > 0 || rng.random_ratio(2, 3) {
            text += eol(rng);
        }
        for _ in 0..trailing_blanks {
            text += blank(rng);
            text += eol(rng);
        }
        line += 1;
    }
    (text, lines)
}

/// One hostile change to a table.
#[derive(Clone, Debug)]
enum Mutation {
    /// An extra feature `7` just before the label of a row.
    ExtraField(Index),
    /// The last feature of a row removed.
    MissingField(Index),
    /// A feature replaced by something that is not a number.
    BadNumber(Index, Index, &'static str),
    /// A feature replaced by NaN, an infinity, or a number too large for f64.
    NonFinite(Index, Index, &'static str),
    /// A feature replaced by a number too large for f32 only.
    TooLargeForF32(Index, Index, &'static str),
    /// A label replaced by something that is not a non-negative integer.
    BadLabel(Index, &'static str),
    /// A label replaced by the class count, or by one too large to infer a count from.
    LabelOutOfRange(Index, &'static str),
    /// A header line before the rows.
    Header,
    /// The text cut at a byte (on a character boundary).
    Truncate(Index),
    /// The whole text blank.
    Blank(&'static str),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    use Mutation::*;
    let not_numbers = vec!["x", "", "  ", "1..2", "0x10", "\"1\"", "1e", "--1", "1 2", "٣", "é", "1_000", "pixel0"];
    let non_finite = vec!["nan", "NaN", "inf", "-inf", "+Infinity", "1e400", "-1e309"];
    let bad_labels = vec!["1.0", "-1", "x", "", "1e2", "+-1", "0x1", "٣", "1 0"];
    prop_oneof![
        any::<Index>().prop_map(ExtraField),
        any::<Index>().prop_map(MissingField),
        (any::<Index>(), any::<Index>(), select(not_numbers)).prop_map(|(r, c, t)| BadNumber(r, c, t)),
        (any::<Index>(), any::<Index>(), select(non_finite)).prop_map(|(r, c, t)| NonFinite(r, c, t)),
        (any::<Index>(), any::<Index>(), select(vec!["1e39", "-3.5e38", "1e300"]))
            .prop_map(|(r, c, t)| TooLargeForF32(r, c, t)),
        (any::<Index>(), select(bad_labels)).prop_map(|(r, t)| BadLabel(r, t)),
        (any::<Index>(), select(vec!["65536", "99999999999999999999999"])).prop_map(|(r, t)| LabelOutOfRange(r, t)),
        Just(Header),
        any::<Index>().prop_map(Truncate),
        select(vec!["", "\n", "\r\n\r\n", " \t\n  ", "\u{feff}", "\u{feff}\n\n"]).prop_map(Blank),
    ]
}

/// An error's variant and the fields that identify it, for comparison.
#[derive(Debug, PartialEq)]
enum Kind {
    ColumnCount { expected: usize, found: usize },
    BadNumber(String),
    NonFinite(String),
    BadLabel(String),
    LabelOutOfRange,
    NoFeatures,
    InvalidUtf8,
    Empty,
}

fn kind(err: &DataError) -> Kind {
    match err {
        DataError::ColumnCount { expected, found, .. } => Kind::ColumnCount { expected: *expected, found: *found },
        DataError::BadNumber { text, .. } => Kind::BadNumber(text.clone()),
        DataError::NonFinite { text, .. } => Kind::NonFinite(text.clone()),
        DataError::BadLabel { text, .. } => Kind::BadLabel(text.clone()),
        DataError::LabelOutOfRange { .. } => Kind::LabelOutOfRange,
        DataError::NoFeatures { .. } => Kind::NoFeatures,
        DataError::InvalidUtf8 { .. } => Kind::InvalidUtf8,
        DataError::Empty { .. } => Kind::Empty,
        other => panic!("unexpected error {other:?}"),
    }
}

/// What parsing a mutated table must give.
#[derive(Debug)]
enum Expected<T: Float> {
    Parsed(Dataset<T>),
    /// The error, and its line and column (none for `Empty`).
    Error(Kind, Option<(usize, usize)>),
    /// No exact prediction (a truncation): only consistency is checked.
    Consistent,
}

/// Applies `mutation` and works out the outcome the documented rules give for `T`.
fn mutate<T: Float>(table: &Table, mutation: &Mutation, seed: u64) -> (String, Expected<T>) {
    use Mutation::*;
    let mut rng = StdRng::seed_from_u64(seed);
    let mut rows = fields::<T>(table, &mut rng);
    let n_fields = table.width() + 1;
    let mut expected_table = table.clone();
    let mut header = None;
    // The error once the text is laid out, as (kind, row, column); `None` for a parse.
    let mut error: Option<(Kind, usize, usize)> = None;
    match *mutation {
        ExtraField(r) => {
            let r = r.index(rows.len());
            rows[r].insert(n_fields - 1, "7".into());
            if rows.len() == 1 {
                expected_table.rows[0].0.push(7.0);
            } else if r == 0 {
                error = Some((Kind::ColumnCount { expected: n_fields + 1, found: n_fields }, 1, n_fields + 1));
            } else {
                error = Some((Kind::ColumnCount { expected: n_fields, found: n_fields + 1 }, r, n_fields + 1));
            }
        }
        MissingField(r) => {
            let r = r.index(rows.len());
            rows[r].remove(n_fields - 2);
            if r == 0 && n_fields == 2 {
                error = Some((Kind::NoFeatures, 0, 1));
            } else if rows.len() == 1 {
                expected_table.rows[0].0.pop();
            } else if r == 0 {
                error = Some((Kind::ColumnCount { expected: n_fields - 1, found: n_fields }, 1, n_fields));
            } else {
                error = Some((Kind::ColumnCount { expected: n_fields, found: n_fields - 1 }, r, n_fields));
            }
        }
        BadNumber(r, c, text) | NonFinite(r, c, text) | TooLargeForF32(r, c, text) => {
            let (r, c) = (r.index(rows.len()), c.index(n_fields - 1));
            rows[r][c] = text.into();
            let trimmed = text.trim().to_string();
            let kind = match mutation {
                BadNumber(..) => Some(Kind::BadNumber(trimmed)),
                TooLargeForF32(..) if T::NAME == "f64" => None,
                _ => Some(Kind::NonFinite(trimmed)),
            };
            match kind {
                Some(kind) => error = Some((kind, r, c + 1)),
                None => expected_table.rows[r].0[c] = text.parse().unwrap(),
            }
        }
        BadLabel(r, text) => {
            let r = r.index(rows.len());
            rows[r][n_fields - 1] = text.into();
            error = Some((Kind::BadLabel(text.trim().into()), r, n_fields));
        }
        LabelOutOfRange(r, text) => {
            let r = r.index(rows.len());
            // With a class count, the count itself is the first label out of range.
            rows[r][n_fields - 1] = table.num_classes.map_or_else(|| text.to_string(), |k| k.to_string());
            error = Some((Kind::LabelOutOfRange, r, n_fields));
        }
        Header => {
            let names: Vec<String> = (0..n_fields - 1).map(|j| format!("pixel{j}")).chain(["label".into()]).collect();
            header = Some(names.join(","));
        }
        Truncate(_) | Blank(_) => {}
    }
    let (mut text, lines) = serialize(&rows, header.as_deref(), &mut rng);
    let expected = match *mutation {
        Header => {
            // The BOM, if any, comes before the header, which is line 1.
            Expected::Error(Kind::BadNumber("pixel0".into()), Some((1, 1)))
        }
        Truncate(at) => {
            let mut cut = at.index(text.len() + 1);
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            text.truncate(cut);
            Expected::Consistent
        }
        Blank(blank) => {
            text = blank.to_string();
            Expected::Error(Kind::Empty, None)
        }
        _ => match error {
            Some((kind, row, column)) => Expected::Error(kind, Some((lines[row], column))),
            None => Expected::Parsed(expected_table.dataset()),
        },
    };
    (text, expected)
}

/// Checks what any input may give: a dataset whose every part agrees, or an error placed inside
/// the text, whose message starts with its place, and before which the text parses.
fn check_consistent<T: Float>(text: &str, num_classes: Option<usize>, result: &Result<Dataset<T>, DataError>) {
    let body = text.strip_prefix('\u{feff}').unwrap_or(text);
    let rows = body.lines().filter(|l| !l.trim().is_empty()).count();
    match result {
        Ok(data) => {
            assert!(data.features().all_finite(), "{text:?}");
            assert_eq!(data.len(), rows, "{text:?}");
            assert_eq!(data.features().numel(), data.len() * data.num_features(), "{text:?}");
            assert!(data.labels().iter().all(|&l| l < data.num_classes()), "{text:?}");
            if let Some(k) = num_classes {
                assert_eq!(data.num_classes(), k, "{text:?}");
            }
            // Written back out, it parses to itself.
            let mut again = String::new();
            for (row, label) in data.features().rows().zip(data.labels()) {
                for v in row {
                    let _ = write!(again, "{v},");
                }
                let _ = writeln!(again, "{label}");
            }
            let reparsed = parse_csv::<T>(&again, "again.csv", Some(data.num_classes())).unwrap();
            assert!(reparsed == *data, "{text:?} does not survive a round trip through {again:?}");
        }
        Err(err) => {
            let message = err.to_string();
            match err.location() {
                Some(at) => {
                    assert!(message.starts_with(&format!("{at}: ")), "{message}");
                    let line = text.split('\n').nth(at.line - 1).unwrap_or_else(|| panic!("{text:?}: {message}"));
                    let columns = line.split(',').count();
                    assert!(at.column >= 1 && at.column <= columns + 1, "{text:?}: {message}");
                    // Reported at the first bad line: the lines before it parse (or are blank).
                    let before: String = text.split_inclusive('\n').take(at.line - 1).collect();
                    match parse_csv::<T>(&before, "before.csv", num_classes) {
                        Ok(_) | Err(DataError::Empty { .. }) => {}
                        Err(e) => panic!("{text:?}: reported {message}, but an earlier line fails: {e}"),
                    }
                }
                None => assert!(matches!(err, DataError::Empty { .. }), "{err:?}"),
            }
        }
    }
}

fn valid_table_parses_exactly<T: Float>(table: &Table, seed: u64) -> Result<(), TestCaseError> {
    let mut rng = StdRng::seed_from_u64(seed);
    let rows = fields::<T>(table, &mut rng);
    let (text, _) = serialize(&rows, None, &mut rng);
    let parsed = parse_csv::<T>(&text, "valid.csv", table.num_classes);
    prop_assert!(parsed.as_ref().ok() == Some(&table.dataset()), "{:?} parsed as {:?}", text, parsed);
    Ok(())
}

fn mutated_table_gives_the_documented_outcome<T: Float>(
    table: &Table,
    mutation: &Mutation,
    seed: u64,
) -> Result<(), TestCaseError> {
    let (text, expected) = mutate::<T>(table, mutation, seed);
    let result = parse_csv::<T>(&text, "t.csv", table.num_classes);
    check_consistent(&text, table.num_classes, &result);
    match (&expected, &result) {
        (Expected::Consistent, _) => {}
        (Expected::Parsed(want), Ok(got)) => {
            prop_assert!(got == want, "{:?}: parsed {:?}, expected {:?}", text, got, want)
        }
        (Expected::Error(want, place), Err(err)) => {
            prop_assert_eq!(&kind(err), want, "{:?}: {}", text, err);
            let got = err.location().map(|at| (at.line, at.column));
            prop_assert_eq!(got, *place, "{:?}: {}", text, err);
            if matches!(mutation, Mutation::Header) {
                prop_assert!(err.to_string().contains("is line 1 a header?"), "{}", err);
            }
        }
        _ => prop_assert!(false, "{} {:?}: got {:?}, expected {:?}", T::NAME, text, result, expected),
    }
    Ok(())
}

/// Byte strings made of CSV-ish pieces and hostile ones: digits, separators, both line endings
/// and a lone `\r`, signs and exponents, NaN and infinity, huge numbers, a BOM, multi-byte and
/// invalid UTF-8, NUL, quotes and words.
fn garbage() -> impl Strategy<Value = Vec<u8>> {
    const PIECES: &[&[u8]] = &[
        b"0",
        b"1",
        b"2",
        b"7",
        b"42",
        b"3.5",
        b"-",
        b"+",
        b".",
        b"e",
        b"E",
        b",",
        b",",
        b",",
        b"\n",
        b"\n",
        b"\r\n",
        b"\r",
        b" ",
        b"\t",
        b"nan",
        b"inf",
        b"1e39",
        b"1e400",
        b"99999999999999999999",
        b"65536",
        b"\xef\xbb\xbf",
        b"\xc3\xa9",
        b"\xff",
        b"\xc3",
        b"\x00",
        b"\"",
        b"x",
        b"label",
    ];
    let piece = prop_oneof![9 => select(PIECES).prop_map(<[u8]>::to_vec), 1 => vec(any::<u8>(), 1..4)];
    vec(piece, 0..80).prop_map(|pieces| pieces.concat())
}

proptest! {
    #![proptest_config(proptest_config(VALID_CASES))]

    #[test]
    fn valid_f32_tables_parse_exactly(table in table::<f32>(), seed in any::<u64>()) {
        valid_table_parses_exactly::<f32>(&table, seed)?;
    }

    #[test]
    fn valid_f64_tables_parse_exactly(table in table::<f64>(), seed in any::<u64>()) {
        valid_table_parses_exactly::<f64>(&table, seed)?;
    }
}

proptest! {
    #![proptest_config(proptest_config(MUTATED_CASES))]

    #[test]
    fn a_hostile_change_gives_the_documented_outcome(
        table in table::<f32>(),
        mutation in mutation(),
        seed in any::<u64>(),
    ) {
        // The table's values are f32, so the same text is checked in both precisions.
        mutated_table_gives_the_documented_outcome::<f32>(&table, &mutation, seed)?;
        mutated_table_gives_the_documented_outcome::<f64>(&table, &mutation, seed)?;
    }
}

proptest! {
    #![proptest_config(proptest_config(GARBAGE_CASES))]

    #[test]
    fn random_bytes_load_or_fail_with_a_typed_error(
        bytes in garbage(),
        num_classes in prop_oneof![Just(None), (0..5usize).prop_map(Some)],
    ) {
        thread_local! {
            static DIR: TempDir = TempDir::new("csv-garbage");
        }
        static CASE: AtomicU64 = AtomicU64::new(0);
        // A new file each case, removed after: rewriting one file in place makes some file
        // systems (ext4's auto_da_alloc) flush it to disk on every close, ten times slower.
        let path = DIR.with(|d| d.file(&format!("garbage-{}.csv", CASE.fetch_add(1, Ordering::Relaxed))));
        std::fs::write(&path, &bytes).unwrap();
        let result = load_csv::<f32>(&path, num_classes);
        std::fs::remove_file(&path).unwrap();
        match std::str::from_utf8(&bytes) {
            Ok(text) => {
                check_consistent(text, num_classes, &result);
                // The file and the string give the same answer.
                let direct = parse_csv::<f32>(text, &path.display().to_string(), num_classes);
                prop_assert_eq!(format!("{:?}", direct), format!("{:?}", result));
            }
            Err(e) => {
                let Err(DataError::InvalidUtf8 { at }) = &result else {
                    return Err(TestCaseError::fail(format!("{bytes:?}: expected InvalidUtf8, got {result:?}")));
                };
                let valid = &bytes[..e.valid_up_to()];
                prop_assert_eq!(at.line, valid.iter().filter(|&&b| b == b'\n').count() + 1);
            }
        }
    }
}
