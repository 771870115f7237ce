//! `CsvOptions` against generated input:
//! - valid tables with a header, a target column anywhere (by name), string or integer labels or
//!   float targets, and benign variations (CRLF, padding, blank lines, quoting) read back
//!   exactly, with the class mapping sorted as documented;
//! - the same tables with one field made empty, non-numeric or non-finite give exactly that
//!   error, at that line and column, naming that column;
//! - random bytes give a typed error or a dataset, never a panic.

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;
use tapegrad_autograd::Float;
use tapegrad_nn::data::{CsvOptions, DataError, Header};
use testkit::proptest_config;

/// A table: feature rows, one label (or float target) per row, where the target column goes,
/// and how the text varies.
#[derive(Clone, Debug)]
struct Table {
    features: Vec<Vec<f64>>,
    labels: Vec<String>,
    target_at: usize,
    crlf: bool,
    quote: bool,
    blank_after: Vec<bool>,
}

impl Table {
    fn width(&self) -> usize {
        self.features[0].len() + 1
    }

    fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = (0..self.features[0].len()).map(|j| format!("f{j}")).collect();
        names.insert(self.target_at, "target".into());
        names
    }

    /// The fields of data row `i`, target in place.
    fn row(&self, i: usize) -> Vec<String> {
        let mut fields: Vec<String> = self.features[i].iter().map(|x| format!("{x:?}")).collect();
        fields.insert(self.target_at, self.labels[i].clone());
        fields
    }

    /// The text, and the line of each data row.
    fn text(&self, rows: &[Vec<String>]) -> (String, Vec<usize>) {
        let newline = if self.crlf { "\r\n" } else { "\n" };
        let quote = |f: &String| if self.quote { format!("\"{f}\"") } else { format!(" {f} ") };
        let mut text = self.names().iter().map(quote).collect::<Vec<_>>().join(",") + newline;
        let (mut line, mut lines) = (2, Vec::new());
        for (i, fields) in rows.iter().enumerate() {
            text += &(fields.iter().map(quote).collect::<Vec<_>>().join(",") + newline);
            lines.push(line);
            line += 1;
            if self.blank_after[i] {
                text += newline;
                line += 1;
            }
        }
        (text, lines)
    }
}

fn table(string_labels: bool) -> impl Strategy<Value = Table> {
    (1..6usize, 1..25usize).prop_flat_map(move |(d, n)| {
        let label = if string_labels {
            select(vec!["cat", "dog", "eel", "Zebra", "a b", "x,y"]).prop_map(str::to_owned).boxed()
        } else {
            (-3..40i64).prop_map(|v| v.to_string()).boxed()
        };
        (
            vec(vec(prop_oneof![-1e6..1e6f64, (-100..100i32).prop_map(f64::from)], d), n),
            vec(label, n),
            0..=d,
            any::<bool>(),
            any::<bool>(),
            vec(any::<bool>(), n),
        )
            .prop_map(|(features, labels, target_at, crlf, quote, blank_after)| Table {
                // A comma inside a label needs the quotes.
                quote: quote || labels.iter().any(|l| l.contains(',')),
                features,
                labels,
                target_at,
                crlf,
                blank_after,
            })
    })
}

fn read_back<T: Float>(table: &Table) -> Result<(), TestCaseError> {
    let rows: Vec<Vec<String>> = (0..table.features.len()).map(|i| table.row(i)).collect();
    let (text, _) = table.text(&rows);
    let data = CsvOptions::new()
        .target("target")
        .parse::<T>(&text, "t.csv")
        .map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
    let want: Vec<T> = table.features.concat().into_iter().map(T::from_f64).collect();
    prop_assert_eq!(data.features().data(), &want[..]);
    // Integer labels sort numerically, strings by bytes; ids index the sorted list.
    let names = data.class_names().unwrap();
    let mut sorted: Vec<String> = table.labels.clone();
    if table.labels.iter().all(|l| l.parse::<i64>().is_ok()) {
        sorted.sort_by_key(|l| l.parse::<i64>().unwrap());
    } else {
        sorted.sort();
    }
    sorted.dedup();
    prop_assert_eq!(names, &sorted[..]);
    for (&id, label) in data.labels().iter().zip(&table.labels) {
        prop_assert_eq!(&names[id], label);
    }
    // Read as regression (integer labels are numbers) with the same features.
    if table.labels.iter().all(|l| l.parse::<i64>().is_ok()) {
        let reg = CsvOptions::new().target("target").regression().parse::<T>(&text, "t.csv").unwrap();
        let targets: Vec<T> = table.labels.iter().map(|l| T::from_f64(l.parse::<f64>().unwrap())).collect();
        prop_assert_eq!(reg.targets().data(), &targets[..]);
        prop_assert_eq!(reg.features(), data.features());
    }
    Ok(())
}

proptest! {
    #![proptest_config(proptest_config(500))]

    #[test]
    fn valid_tables_read_back_exactly(table in prop_oneof![table(true), table(false)]) {
        read_back::<f64>(&table)?;
        read_back::<f32>(&table)?;
    }

    #[test]
    fn one_bad_field_is_reported_where_it_is(
        table in table(false),
        row in any::<prop::sample::Index>(),
        column in any::<prop::sample::Index>(),
        bad in select(vec!["", "NA", "?", "nan", "inf", "1e400", "x1"]),
    ) {
        let (i, j) = (row.index(table.features.len()), column.index(table.width()));
        let mut rows: Vec<Vec<String>> = (0..table.features.len()).map(|i| table.row(i)).collect();
        rows[i][j] = bad.to_owned();
        let (text, lines) = table.text(&rows);
        let err = CsvOptions::new().header(Header::Present).target("target").regression().parse::<f64>(&text, "t.csv").unwrap_err();
        let name = format!("{:?}", table.names()[j]);
        let ok = match &err {
            DataError::MissingValue { column, .. } => bad.is_empty() && *column == name,
            DataError::BadValue { column, text, .. } => ["NA", "?", "x1"].contains(&bad) && *column == name && text == bad,
            DataError::NonFiniteValue { column, .. } => ["nan", "inf", "1e400"].contains(&bad) && *column == name,
            _ => false,
        };
        prop_assert!(ok, "{}: {:?}", bad, err);
        let at = err.location().unwrap();
        prop_assert_eq!((at.line, at.column), (lines[i], j + 1), "{}", err);
        prop_assert!(err.to_string().starts_with(&format!("t.csv:{}:{}: column {name}: ", lines[i], j + 1)), "{}", err);
    }
}

/// CSV-ish pieces and hostile ones: digits, separators, line endings, quotes, words, NaN,
/// huge numbers, a BOM, NUL and raw bytes (decoded lossily: the reader takes text).
fn garbage() -> impl Strategy<Value = String> {
    const PIECES: &[&str] = &[
        "0", "1", "7", "3.5", "-", ".", "e", ",", ",", ",", ";", "\n", "\n", "\r\n", "\r", " ", "\t", "\"", "\"\"",
        "nan", "inf", "1e400", "x", "y", "label", "\u{feff}", "é", "\0",
    ];
    let piece = prop_oneof![9 => select(PIECES).prop_map(str::to_owned), 1 => vec(any::<u8>(), 1..4).prop_map(|b| String::from_utf8_lossy(&b).into_owned())];
    vec(piece, 0..80).prop_map(|pieces| pieces.concat())
}

proptest! {
    #![proptest_config(proptest_config(3_000))]

    #[test]
    fn random_text_reads_or_fails_with_a_typed_error(text in garbage(), target in 0..4usize, header in 0..3u8) {
        let header = [Header::Auto, Header::Present, Header::Absent][header as usize];
        let lines = text.matches('\n').count() + 1;
        let class = CsvOptions::new().header(header).target(target).parse::<f32>(&text, "g.csv");
        let reg = CsvOptions::new().header(header).target(target).regression().parse::<f64>(&text, "g.csv");
        for err in [class.err(), reg.err()].into_iter().flatten() {
            // Every message names the input; a location is inside it.
            prop_assert!(err.to_string().starts_with("g.csv"), "{}", err);
            if let Some(at) = err.location() {
                prop_assert!(at.line >= 1 && at.line <= lines && at.column >= 1, "{}: {:?}", err, text);
            }
        }
    }
}
