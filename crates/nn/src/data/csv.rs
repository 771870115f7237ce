//! Loading a [`Dataset`] from "features..., label" CSV text, with errors that say where.

use super::Dataset;
use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use tapegrad_autograd::{Float, Tensor};

/// With no class count given, the loader infers it as the largest label plus one; labels must
/// then be below this, so a stray huge label cannot make a dataset with billions of classes.
/// Pass the class count explicitly to go beyond it.
pub const MAX_INFERRED_CLASSES: usize = 1 << 16;

/// The largest file [`load_csv`] reads, 1 GiB: far beyond any dataset held in memory as text
/// here, and small enough that a wrong path (a disk image, a log that keeps growing) fails at
/// once instead of filling the memory.
pub const MAX_CSV_BYTES: u64 = 1 << 30;

/// A place in a CSV input: `file:line:column`, both numbers counting from 1, the column being the
/// field's position in its line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Location {
    /// The path, or the name given to [`parse_csv`].
    pub file: String,
    /// Line number, from 1; blank lines count.
    pub line: usize,
    /// Field number within the line, from 1.
    pub column: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}

/// Why a CSV input could not be loaded, or its features not standardised. Each variant but
/// [`Io`](Self::Io), [`NotAFile`](Self::NotAFile), [`TooLarge`](Self::TooLarge),
/// [`Empty`](Self::Empty), [`NonFiniteFeature`](Self::NonFiniteFeature),
/// [`TooManyClasses`](Self::TooManyClasses), [`UnknownColumn`](Self::UnknownColumn),
/// [`DuplicateColumn`](Self::DuplicateColumn) and [`Csv`](Self::Csv) says where in the file, and
/// the message starts with `file:line:column:`.
#[derive(Debug)]
#[non_exhaustive]
pub enum DataError {
    /// The file could not be read.
    Io {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        error: io::Error,
    },
    /// The path is not a regular file (nor a symlink to one): a directory, a device such as
    /// `/dev/zero`, a FIFO or a socket, which may never end or block forever.
    NotAFile {
        /// The path.
        path: PathBuf,
    },
    /// The file is larger than [`MAX_CSV_BYTES`] (or grew past it while being read).
    TooLarge {
        /// The path.
        path: PathBuf,
        /// The limit, [`MAX_CSV_BYTES`].
        limit: u64,
    },
    /// The bytes are not UTF-8; the location is that of the first bad byte.
    InvalidUtf8 {
        /// Where.
        at: Location,
    },
    /// No data rows: the input is empty or blank.
    Empty {
        /// The path, or the name given to [`parse_csv`].
        file: String,
    },
    /// The first row has a single field, so there is no feature before the label.
    NoFeatures {
        /// Where.
        at: Location,
    },
    /// A row has a different number of fields than the first row; the column is the first
    /// missing or extra field.
    ColumnCount {
        /// Where.
        at: Location,
        /// The number of fields of the first row.
        expected: usize,
        /// The number of fields of this row.
        found: usize,
    },
    /// A feature is not a number (or is empty).
    BadNumber {
        /// Where.
        at: Location,
        /// The field, trimmed, cut to 40 characters.
        text: String,
    },
    /// A feature is NaN, infinite, or too large for the element type.
    NonFinite {
        /// Where.
        at: Location,
        /// The field, trimmed, cut to 40 characters.
        text: String,
        /// The element type, `"f32"` or `"f64"`.
        float: &'static str,
    },
    /// A label is not a non-negative integer.
    BadLabel {
        /// Where.
        at: Location,
        /// The field, trimmed, cut to 40 characters.
        text: String,
    },
    /// A label is not below the class count, or, with no class count given, not below
    /// [`MAX_INFERRED_CLASSES`].
    LabelOutOfRange {
        /// Where.
        at: Location,
        /// The label as written, cut to 40 characters (it may not fit in a `usize`).
        label: String,
        /// The class count given to the loader, if any.
        num_classes: Option<usize>,
    },
    /// A field that [`CsvOptions`](super::CsvOptions) needs is empty.
    MissingValue {
        /// Where.
        at: Location,
        /// The column's header name, or `#3` (from 1) when the input has no header.
        column: String,
    },
    /// A feature or float target read by [`CsvOptions`](super::CsvOptions) is not a number.
    BadValue {
        /// Where.
        at: Location,
        /// The column's header name, or `#3` (from 1) when the input has no header.
        column: String,
        /// The field, trimmed, cut to 40 characters.
        text: String,
    },
    /// A feature or float target read by [`CsvOptions`](super::CsvOptions) is NaN, infinite,
    /// or too large for the element type.
    NonFiniteValue {
        /// Where.
        at: Location,
        /// The column's header name, or `#3` (from 1) when the input has no header.
        column: String,
        /// The field, trimmed, cut to 40 characters.
        text: String,
        /// The element type, `"f32"` or `"f64"`.
        float: &'static str,
    },
    /// A class label that is not among the classes given to
    /// [`CsvOptions::classes`](super::CsvOptions::classes).
    UnknownClass {
        /// Where.
        at: Location,
        /// The column's header name, or `#3` (from 1) when the input has no header.
        column: String,
        /// The label, trimmed, cut to 40 characters.
        label: String,
        /// How many classes were given.
        num_classes: usize,
    },
    /// The target column holds more distinct class labels than [`MAX_INFERRED_CLASSES`]: most
    /// likely a float target read for classification.
    TooManyClasses {
        /// The path, or the name given to the parser.
        file: String,
        /// The column's header name, or `#3` (from 1) when the input has no header.
        column: String,
    },
    /// A column chosen by name or index is not in the input.
    UnknownColumn {
        /// The path, or the name given to the parser.
        file: String,
        /// The column as asked for: `"y"` for a name, `7` for an index (from 0).
        column: String,
        /// The header's names, empty when the input has no header.
        header: Vec<String>,
        /// The number of fields of the first row.
        width: usize,
    },
    /// A column chosen by name appears more than once in the header.
    DuplicateColumn {
        /// The path, or the name given to the parser.
        file: String,
        /// The name.
        name: String,
    },
    /// The CSV parser itself failed.
    Csv {
        /// The path, or the name given to the parser.
        file: String,
        /// What it said.
        message: String,
    },
    /// A feature given to [`StandardScaler::fit`](super::StandardScaler::fit) is NaN or
    /// infinite.
    NonFiniteFeature {
        /// Its row in the feature matrix, from 0.
        row: usize,
        /// Its column, from 0.
        column: usize,
        /// The value.
        value: f64,
    },
}

impl DataError {
    /// Where the problem is, for the variants that have a place.
    pub fn location(&self) -> Option<&Location> {
        use DataError::*;
        match self {
            Io { .. }
            | NotAFile { .. }
            | TooLarge { .. }
            | Empty { .. }
            | NonFiniteFeature { .. }
            | TooManyClasses { .. }
            | UnknownColumn { .. }
            | DuplicateColumn { .. }
            | Csv { .. } => None,
            MissingValue { at, .. }
            | BadValue { at, .. }
            | NonFiniteValue { at, .. }
            | UnknownClass { at, .. }
            | InvalidUtf8 { at }
            | NoFeatures { at }
            | ColumnCount { at, .. }
            | BadNumber { at, .. }
            | NonFinite { at, .. }
            | BadLabel { at, .. }
            | LabelOutOfRange { at, .. } => Some(at),
        }
    }
}

impl fmt::Display for DataError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use DataError::*;
        // A header is the likeliest reason for text where numbers belong on the first line.
        let header_hint = |at: &Location, text: &str| {
            if at.line == 1 && !text.is_empty() {
                " (is line 1 a header? Headers are not supported: remove it)"
            } else {
                ""
            }
        };
        match self {
            Io { path, error } => write!(f, "cannot read {}: {error}", path.display()),
            NotAFile { path } => {
                write!(f, "cannot read {}: not a regular file (a directory, device or pipe)", path.display())
            }
            TooLarge { path, limit } => {
                write!(f, "cannot read {}: the file is larger than the limit of {limit} bytes", path.display())
            }
            InvalidUtf8 { at } => write!(f, "{at}: invalid UTF-8; the file must be UTF-8 text"),
            Empty { file } => write!(f, "{file}: no data rows (the input is empty or blank)"),
            NoFeatures { at } => write!(f, "{at}: a row needs at least one feature and a label, found a single field"),
            ColumnCount { at, expected, found } => {
                write!(f, "{at}: expected {expected} fields like the first row, found {found}")
            }
            BadNumber { at, text } if text.is_empty() => write!(f, "{at}: empty field, expected a number"),
            BadNumber { at, text } => write!(f, "{at}: expected a number, found {text:?}{}", header_hint(at, text)),
            NonFinite { at, text, float } => write!(
                f,
                "{at}: {text:?} is not a finite {float}; NaN, infinities and values too large for {float} are rejected"
            ),
            BadLabel { at, text } => {
                write!(f, "{at}: expected a label (a non-negative integer), found {text:?}{}", header_hint(at, text))
            }
            LabelOutOfRange { at, label, num_classes: Some(k) } => {
                write!(f, "{at}: label {label} is out of range: with {k} classes labels must be below {k}")
            }
            MissingValue { at, column } => write!(f, "{at}: column {column}: empty field, expected a value"),
            BadValue { at, column, text } => write!(f, "{at}: column {column}: expected a number, found {text:?}"),
            NonFiniteValue { at, column, text, float } => write!(
                f,
                "{at}: column {column}: {text:?} is not a finite {float}; NaN, infinities and values too large for {float} are rejected"
            ),
            UnknownClass { at, column, label, num_classes } => {
                write!(f, "{at}: column {column}: class {label:?} is not one of the {num_classes} classes given")
            }
            TooManyClasses { file, column } => write!(
                f,
                "{file}: column {column} has more than {MAX_INFERRED_CLASSES} distinct class labels; \
                 is it a float target (read it as regression)?"
            ),
            UnknownColumn { file, column, header, width } if header.is_empty() => {
                write!(f, "{file}: no column {column}: the input has no header row and {width} fields per row")
            }
            UnknownColumn { file, column, header, .. } => {
                let names: Vec<&str> = header.iter().take(20).map(|n| n.as_str()).collect();
                let more = if header.len() > 20 { ", ..." } else { "" };
                write!(f, "{file}: no column {column}; the header has {}{more}", names.join(", "))
            }
            DuplicateColumn { file, name } => {
                write!(f, "{file}: column {name:?} appears more than once in the header; choose it by index")
            }
            Csv { file, message } => write!(f, "{file}: {message}"),
            NonFiniteFeature { row, column, value } => write!(
                f,
                "StandardScaler::fit: the feature at row {row}, column {column} (from 0) is {value}; features must be finite"
            ),
            LabelOutOfRange { at, label, num_classes: None } => write!(
                f,
                "{at}: label {label} is too large to infer the class count from \
                 (the limit is {MAX_INFERRED_CLASSES}); give the number of classes"
            ),
        }
    }
}

impl std::error::Error for DataError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            DataError::Io { error, .. } => Some(error),
            _ => None,
        }
    }
}

/// Loads a "features..., label" CSV file.
///
/// The format is deliberately narrow, and every departure from it is an error, never a guess:
/// - one example per line: comma-separated features, then the class label; the first row sets
///   the number of fields and every row must match it;
/// - a feature is anything Rust's float parser takes (`3`, `-0.5`, `+1e-3`, `.5`), rounded once
///   to the nearest `T`; NaN, infinities and values that overflow `T` (`1e39` in `f32`) are
///   rejected;
/// - a label is a non-negative decimal integer (`7`, not `7.0`); with `num_classes` given it
///   must be below it, with `None` the class count is the largest label plus one, and labels
///   must be below [`MAX_INFERRED_CLASSES`];
/// - whitespace around a field is ignored; `\n` and `\r\n` line endings are both fine;
///   blank lines are skipped wherever they are (so trailing newlines do no harm) but still count
///   in line numbers; a leading UTF-8 byte-order mark is skipped;
/// - there is no header row and no quoting: a header is reported as a bad number at line 1,
///   column 1, with a hint that it may be a header, rather than silently dropped, because
///   dropping the first row of a file that has no header loses an example unnoticed;
/// - the file is read as bytes and must be UTF-8: invalid UTF-8 is [`DataError::InvalidUtf8`]
///   naming the line and field; an unreadable file is [`DataError::Io`] naming the path;
/// - the path must be a regular file or a symlink to one, checked before it is opened (opening
///   a FIFO blocks until a writer comes): anything else is [`DataError::NotAFile`]; a file
///   above [`MAX_CSV_BYTES`] is [`DataError::TooLarge`], also when it grows past the limit
///   while being read.
///
/// No input makes it panic. Errors name the path as given.
///
/// ```
/// let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/data/digits.csv");
/// let digits = tapegrad_nn::data::load_csv::<f32>(path, Some(10))?;
/// assert_eq!((digits.len(), digits.num_features()), (1797, 64));
/// # Ok::<(), tapegrad_nn::data::DataError>(())
/// ```
pub fn load_csv<T: Float>(path: impl AsRef<Path>, num_classes: Option<usize>) -> Result<Dataset<T>, DataError> {
    let path = path.as_ref();
    let bytes = read_bounded(path, MAX_CSV_BYTES)?;
    let file = path.display().to_string();
    parse_csv(decode(&bytes, &file)?, &file, num_classes)
}

/// The bytes of the regular file at `path`, if it has at most `limit` of them.
pub(super) fn read_bounded(path: &Path, limit: u64) -> Result<Vec<u8>, DataError> {
    let io_error = |error| DataError::Io { path: path.to_owned(), error };
    let not_a_file = || DataError::NotAFile { path: path.to_owned() };
    let too_large = || DataError::TooLarge { path: path.to_owned(), limit };
    // `metadata` follows symlinks, so a link to a regular file is fine.
    let before = std::fs::metadata(path).map_err(io_error)?;
    if !before.is_file() {
        return Err(not_a_file());
    }
    if before.len() > limit {
        return Err(too_large());
    }
    let file = File::open(path).map_err(io_error)?;
    // The path may have been replaced between the check and the open.
    if !file.metadata().map_err(io_error)?.is_file() {
        return Err(not_a_file());
    }
    // One byte past the limit tells a file that grew while read from one that is exactly full.
    let mut bytes = Vec::with_capacity(usize::try_from(before.len()).unwrap_or(0));
    file.take(limit + 1).read_to_end(&mut bytes).map_err(io_error)?;
    if bytes.len() as u64 > limit {
        return Err(too_large());
    }
    Ok(bytes)
}

/// Parses "features..., label" CSV text, accepting what [`load_csv`] accepts; `file` names the
/// input in errors.
///
/// ```
/// use tapegrad_nn::data::parse_csv;
/// let data = parse_csv::<f64>("0.5, 1, 2\r\n-3, 4e1, 0\r\n\r\n", "inline", None)?;
/// assert_eq!(data.features().data(), &[0.5, 1.0, -3.0, 40.0]);
/// assert_eq!((data.labels(), data.num_classes()), (&[2, 0][..], 3));
///
/// let err = parse_csv::<f32>("x,y,label\n1,2,0\n", "points.csv", None).unwrap_err();
/// assert!(err.to_string().starts_with("points.csv:1:1: expected a number, found \"x\" (is line 1 a header?"));
/// # Ok::<(), tapegrad_nn::data::DataError>(())
/// ```
pub fn parse_csv<T: Float>(text: &str, file: &str, num_classes: Option<usize>) -> Result<Dataset<T>, DataError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let label_limit = num_classes.unwrap_or(MAX_INFERRED_CLASSES);
    let mut width = None;
    let mut features = Vec::new();
    let mut labels = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let at = |column| Location { file: file.to_owned(), line: i + 1, column };
        let found = line.split(',').count();
        let expected = *width.get_or_insert(found);
        if found != expected {
            return Err(DataError::ColumnCount { at: at(found.min(expected) + 1), expected, found });
        }
        let Some((xs, label)) = line.rsplit_once(',') else {
            return Err(DataError::NoFeatures { at: at(1) });
        };
        for (j, field) in xs.split(',').enumerate() {
            let field = field.trim();
            let x =
                parse_number::<T>(field).ok_or_else(|| DataError::BadNumber { at: at(j + 1), text: excerpt(field) })?;
            if !x.is_finite() {
                return Err(DataError::NonFinite { at: at(j + 1), text: excerpt(field), float: T::NAME });
            }
            features.push(x);
        }
        let label = label.trim();
        let out_of_range = || DataError::LabelOutOfRange { at: at(found), label: excerpt(label), num_classes };
        match label.parse::<usize>() {
            Ok(l) if l < label_limit => labels.push(l),
            Ok(_) => return Err(out_of_range()),
            Err(e) if *e.kind() == std::num::IntErrorKind::PosOverflow => return Err(out_of_range()),
            Err(_) => return Err(DataError::BadLabel { at: at(found), text: excerpt(label) }),
        }
    }
    let Some(width) = width else {
        return Err(DataError::Empty { file: file.to_owned() });
    };
    // Every label is below the limit, so the inferred count cannot overflow.
    let num_classes = num_classes.unwrap_or_else(|| labels.iter().max().map_or(0, |&l| l + 1));
    Ok(Dataset::new(Tensor::from_vec([labels.len(), width - 1], features), labels, num_classes))
}

/// The number `field` writes, rounded once to the nearest `T`. Parsing to f64 and then rounding to
/// f32 rounds twice, which lands one ulp off when the f64 falls exactly halfway between two f32s:
/// `7.038531e-26`, how Rust writes the f32 `0x15ae43fd`, would read back as `0x15ae43fe`.
pub(super) fn parse_number<T: Float>(field: &str) -> Option<T> {
    if T::NAME == "f32" {
        field.parse::<f32>().ok().map(|x| T::from_f64(f64::from(x)))
    } else {
        field.parse::<f64>().ok().map(T::from_f64)
    }
}

/// The bytes as text, or where the first invalid UTF-8 byte is.
pub(super) fn decode<'a>(bytes: &'a [u8], file: &str) -> Result<&'a str, DataError> {
    std::str::from_utf8(bytes).map_err(|e| {
        let valid = &bytes[..e.valid_up_to()];
        let line_start = valid.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1);
        let line = valid.iter().filter(|&&b| b == b'\n').count() + 1;
        let column = valid[line_start..].iter().filter(|&&b| b == b',').count() + 1;
        DataError::InvalidUtf8 { at: Location { file: file.to_owned(), line, column } }
    })
}

/// At most 40 characters of a field, so that a hostile megabyte-long field makes a short message.
pub(super) fn excerpt(field: &str) -> String {
    const MAX: usize = 40;
    match field.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}...", &field[..cut]),
        None => field.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error;

    fn parse(text: &str) -> Result<Dataset<f32>, DataError> {
        parse_csv(text, "t.csv", None)
    }

    /// The error for `text`, after checking its location and that its message starts with it.
    fn error_at(text: &str, num_classes: Option<usize>, line: usize, column: usize) -> DataError {
        let err = parse_csv::<f32>(text, "t.csv", num_classes).unwrap_err();
        let at = err.location().expect("a located error");
        assert_eq!((at.file.as_str(), at.line, at.column), ("t.csv", line, column), "{err}");
        assert!(err.to_string().starts_with(&format!("t.csv:{line}:{column}: ")), "{err}");
        err
    }

    #[test]
    fn parses_features_labels_and_infers_the_class_count() {
        let data = parse("1,2,0\n3,4,2\n").unwrap();
        assert_eq!(data.features().shape().dims(), &[2, 2]);
        assert_eq!(data.features().data(), &[1.0, 2.0, 3.0, 4.0]);
        assert_eq!(data.labels(), &[0, 2]);
        assert_eq!(data.num_classes(), 3);
        let given = parse_csv::<f64>("1,2,0\n3,4,2\n", "t.csv", Some(10)).unwrap();
        assert_eq!(given.num_classes(), 10);
    }

    #[test]
    fn accepts_crlf_blank_lines_whitespace_a_bom_and_any_float_syntax() {
        let plain = parse("1,-2,100,0\n0.5,0,0.25,1\n").unwrap();
        for text in [
            "1,-2,100,0\n0.5,0,0.25,1",
            "1,-2,100,0\r\n0.5,0,0.25,1\r\n",
            "1,-2,100,0\n0.5,0,0.25,1\n\n\r\n  \n",
            "\n1,-2,100,0\n\t\n0.5,0,0.25,1\n",
            " 1 ,\t-2, 100 , 0\n0.5 ,0,  0.25,1  \r\n",
            "\u{feff}1,-2,100,0\n0.5,0,0.25,1\n",
            "+1,-2.0,1e2,00\n.5,-0,25e-2,+1\n",
        ] {
            assert_eq!(parse(text).unwrap(), plain, "{text:?}");
        }
    }

    #[test]
    fn an_f32_reads_back_from_its_shortest_form_even_where_f64_would_round_twice() {
        // The decimal's nearest f64 is exactly halfway between two f32s; going through f64, ties
        // to even picked the neighbour 0x15ae43fe. (Found by checking every f32.)
        let x = f32::from_bits(0x15ae_43fd);
        for text in [format!("{x},0"), format!("{x:e},0")] {
            let data = parse(&text).unwrap();
            assert_eq!(data.features().data()[0].to_bits(), 0x15ae_43fd, "{text}");
        }
    }

    #[test]
    fn a_header_is_an_error_at_line_1_column_1_that_suggests_it_is_one() {
        let err = error_at("pixel0,pixel1,label\n1,2,0\n", None, 1, 1);
        assert!(matches!(&err, DataError::BadNumber { text, .. } if text == "pixel0"));
        assert_eq!(
            err.to_string(),
            "t.csv:1:1: expected a number, found \"pixel0\" (is line 1 a header? Headers are not supported: remove it)"
        );
    }

    #[test]
    fn bad_and_empty_numbers_name_their_field() {
        let err = error_at("1,2,3\n4,x5,0\n", None, 2, 2);
        assert!(matches!(err, DataError::BadNumber { .. }));
        assert_eq!(err.to_string(), "t.csv:2:2: expected a number, found \"x5\"");
        let err = error_at("1,,0\n", None, 1, 2);
        assert_eq!(err.to_string(), "t.csv:1:2: empty field, expected a number");
        // There is no quoting: a quoted number is not a number.
        assert!(matches!(error_at("\"1\",0\n", None, 1, 1), DataError::BadNumber { .. }));
    }

    #[test]
    fn nan_infinities_and_overflow_are_rejected() {
        for (text, column) in [("nan,1,0", 1), ("1,inf,0", 2), ("-Infinity,1,0", 1), ("1,1e39,0", 2), ("1e400,1,0", 1)]
        {
            let err = error_at(text, None, 1, column);
            assert!(matches!(err, DataError::NonFinite { float: "f32", .. }), "{text}: {err}");
        }
        let err = error_at("0,0,1\n1,-1e39,1\n", None, 2, 2);
        assert_eq!(
            err.to_string(),
            "t.csv:2:2: \"-1e39\" is not a finite f32; NaN, infinities and values too large for f32 are rejected"
        );
        // The same magnitude fits in f64.
        assert_eq!(parse_csv::<f64>("1e39,0", "t.csv", None).unwrap().features().data(), &[1e39]);
    }

    #[test]
    fn a_row_with_too_few_or_too_many_fields_is_reported_against_the_first() {
        let err = error_at("1,2,0\n3,4,1\n5,1\n", None, 3, 3);
        assert!(matches!(err, DataError::ColumnCount { expected: 3, found: 2, .. }));
        assert_eq!(err.to_string(), "t.csv:3:3: expected 3 fields like the first row, found 2");
        let err = error_at("1,2,0\n3,4,5,1\n", None, 2, 4);
        assert!(matches!(err, DataError::ColumnCount { expected: 3, found: 4, .. }));
    }

    #[test]
    fn a_single_field_first_row_has_no_features() {
        let err = error_at("\n7\n1\n", None, 2, 1);
        assert!(matches!(err, DataError::NoFeatures { .. }));
        assert_eq!(err.to_string(), "t.csv:2:1: a row needs at least one feature and a label, found a single field");
    }

    #[test]
    fn labels_must_be_non_negative_integers() {
        for (text, label) in [("1,2,1.0", "1.0"), ("1,2,-1", "-1"), ("1,2,", ""), ("1,2,one", "one")] {
            let err = error_at(text, None, 1, 3);
            assert!(matches!(&err, DataError::BadLabel { text, .. } if text == label), "{err}");
        }
        let err = error_at("1,2,0\n1,2,1.5\n", None, 2, 3);
        assert_eq!(err.to_string(), "t.csv:2:3: expected a label (a non-negative integer), found \"1.5\"");
    }

    #[test]
    fn labels_must_be_below_the_class_count() {
        let err = error_at("1,0\n2,1\n3,2\n", Some(2), 3, 2);
        assert!(matches!(err, DataError::LabelOutOfRange { num_classes: Some(2), .. }));
        assert_eq!(err.to_string(), "t.csv:3:2: label 2 is out of range: with 2 classes labels must be below 2");
        let err = error_at("1,65536\n", None, 1, 2);
        assert_eq!(
            err.to_string(),
            "t.csv:1:2: label 65536 is too large to infer the class count from (the limit is 65536); \
             give the number of classes"
        );
        // Too large for a usize is out of range too, not "not an integer".
        let err = error_at("1,99999999999999999999999999\n", Some(3), 1, 2);
        assert!(matches!(err, DataError::LabelOutOfRange { .. }));
        assert!(parse_csv::<f32>("1,65536\n", "t.csv", Some(65537)).is_ok());
    }

    #[test]
    fn empty_and_blank_inputs_have_no_rows() {
        for text in ["", "\n", "\r\n  \r\n\t\n", "\u{feff}"] {
            let err = parse(text).unwrap_err();
            assert!(matches!(err, DataError::Empty { .. }) && err.location().is_none());
            assert_eq!(err.to_string(), "t.csv: no data rows (the input is empty or blank)");
        }
    }

    #[test]
    fn invalid_utf8_names_its_line_and_field() {
        let err = decode(b"1,2,0\n3,4,1\n5,\xff6,1\n", "bytes.csv").unwrap_err();
        assert!(matches!(err, DataError::InvalidUtf8 { .. }));
        assert_eq!(err.to_string(), "bytes.csv:3:2: invalid UTF-8; the file must be UTF-8 text");
        assert_eq!(decode("é,1".as_bytes(), "ok.csv").unwrap(), "é,1");
    }

    #[test]
    fn io_errors_name_the_path_and_keep_the_cause() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("no-such-dir/missing.csv");
        let err = load_csv::<f32>(&path, None).unwrap_err();
        assert!(matches!(&err, DataError::Io { error, .. } if error.kind() == io::ErrorKind::NotFound));
        assert!(err.source().is_some());
        let boxed: Box<dyn Error + Send + Sync> = Box::new(err);
        let message = boxed.to_string();
        assert!(message.starts_with(&format!("cannot read {}: ", path.display())), "{message}");
    }

    #[test]
    fn devices_and_directories_are_not_files_and_fail_at_once() {
        // /dev/zero never ends: reading it whole would fill the memory.
        #[cfg(unix)]
        for device in ["/dev/zero", "/dev/null"] {
            let err = load_csv::<f32>(device, None).unwrap_err();
            assert!(matches!(&err, DataError::NotAFile { path } if path == Path::new(device)), "{err:?}");
            assert_eq!(
                err.to_string(),
                format!("cannot read {device}: not a regular file (a directory, device or pipe)")
            );
        }
        let dir = env!("CARGO_MANIFEST_DIR");
        assert!(matches!(load_csv::<f32>(dir, None), Err(DataError::NotAFile { .. })));
    }

    #[cfg(unix)]
    #[test]
    fn a_fifo_is_refused_without_blocking() {
        let dir = testkit::TempDir::new("csv-fifo");
        let fifo = dir.path().join("pipe.csv");
        let status = std::process::Command::new("mkfifo").arg(&fifo).status().expect("run mkfifo");
        assert!(status.success(), "mkfifo {}", fifo.display());
        // Opening a FIFO with no writer blocks; run the load on a thread and bound the wait.
        let (tx, rx) = std::sync::mpsc::channel();
        let path = fifo.clone();
        std::thread::spawn(move || tx.send(load_csv::<f32>(&path, None).map(|_| ())));
        let outcome = rx.recv_timeout(std::time::Duration::from_secs(10)).expect("load_csv blocked on a FIFO");
        assert!(matches!(outcome, Err(DataError::NotAFile { path }) if path == fifo));
    }

    #[cfg(unix)]
    #[test]
    fn a_symlink_to_a_regular_file_is_read() {
        let dir = testkit::TempDir::new("csv-symlink");
        let target = dir.path().join("data.csv");
        std::fs::write(&target, "1,2,0\n3,4,1\n").unwrap();
        let link = dir.path().join("link.csv");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        assert_eq!(load_csv::<f32>(&link, None).unwrap(), load_csv::<f32>(&target, None).unwrap());
    }

    #[test]
    fn files_above_the_limit_are_refused_by_size_and_while_read() {
        let dir = testkit::TempDir::new("csv-limit");
        let path = dir.path().join("big.csv");
        std::fs::write(&path, "1,2,0\n").unwrap(); // 6 bytes
        assert_eq!(read_bounded(&path, 6).unwrap(), b"1,2,0\n");
        let err = read_bounded(&path, 5).unwrap_err();
        assert!(matches!(&err, DataError::TooLarge { limit: 5, .. }), "{err:?}");
        assert_eq!(
            err.to_string(),
            format!("cannot read {}: the file is larger than the limit of 5 bytes", path.display())
        );
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_file_longer_than_its_reported_size_is_caught_while_read() {
        // Files in /proc report size 0 but have content, like a file that grows while read.
        let status = Path::new("/proc/self/status");
        assert_eq!(std::fs::metadata(status).unwrap().len(), 0);
        assert!(matches!(read_bounded(status, 5), Err(DataError::TooLarge { limit: 5, .. })));
    }

    #[test]
    fn labels_above_2_to_the_24_stay_exact_in_an_f32_dataset() {
        // Labels are parsed as integers, never through T: 16777217 is not an f32, and rounding
        // it would move the row to class 16777216.
        let data = parse_csv::<f32>("1,16777217\n2,16777216\n", "t.csv", Some(16_777_218)).unwrap();
        assert_eq!(data.labels(), &[16_777_217, 16_777_216]);
        assert_ne!(16_777_217.0f32 as usize, 16_777_217);
        // Without a class count, such a label is too large to infer one from.
        assert!(matches!(error_at("1,16777217\n", None, 1, 2), DataError::LabelOutOfRange { .. }));
    }

    #[test]
    fn long_fields_are_cut_in_messages() {
        let field = "é".repeat(1000);
        let err = parse(&format!("{field},0\n")).unwrap_err();
        assert!(matches!(&err, DataError::BadNumber { text, .. } if *text == format!("{}...", "é".repeat(40))));
    }

    // Generated input, hostile and valid (22,000 cases per run), is in tests/csv_props.rs.
}
