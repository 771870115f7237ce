//! Reading a user's own CSV file: a header or not, any target column(s), classification with
//! integer or string labels, or regression with float targets.

use super::csv::{decode, excerpt, parse_number, read_bounded};
use super::{ClassLabels, DataError, Dataset, Location, MAX_CSV_BYTES, MAX_INFERRED_CLASSES, RegressionDataset};
use std::collections::{BTreeMap, BTreeSet};
use std::marker::PhantomData;
use std::path::Path;
use tapegrad_autograd::{Float, Tensor};

/// Whether the first row of a CSV input names the columns.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Header {
    /// A header when none of the first row's fields is a number (`x,y,label`); data otherwise.
    /// A header of numbers (`1,2,3`) is read as data: say [`Present`](Self::Present) then.
    #[default]
    Auto,
    /// The first row is a header.
    Present,
    /// Every row is data.
    Absent,
}

/// A column of a CSV input, by header name or by position.
///
/// ```
/// use tapegrad_nn::data::Column;
/// assert_eq!(Column::from("price"), Column::Name("price".into()));
/// assert_eq!(Column::from(0), Column::Index(0));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Column {
    /// The column whose header field is this name (after trimming); needs a header.
    Name(String),
    /// The column at this position, counting from 0.
    Index(usize),
    /// The last column.
    #[default]
    Last,
}

impl From<&str> for Column {
    fn from(name: &str) -> Self {
        Column::Name(name.to_owned())
    }
}

impl From<String> for Column {
    fn from(name: String) -> Self {
        Column::Name(name)
    }
}

impl From<usize> for Column {
    fn from(index: usize) -> Self {
        Column::Index(index)
    }
}

/// Marks a [`CsvOptions`] that reads class labels (the default).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Classification;

/// Marks a [`CsvOptions`] that reads float targets.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Regression;

/// How to read a CSV file into a [`Dataset`]: a builder, then [`read`](CsvOptions::read) (or
/// [`parse`](CsvOptions::parse) for text in memory).
///
/// - **Header**: [`Header::Auto`] (the default) takes the first row as a header when none of its
///   fields is a number.
/// - **Target**: the last column unless [`target`](Self::target) names another (by header name or
///   index); regression takes several with [`targets`](CsvOptions::targets). Every other column,
///   except those [`ignore`](Self::ignore)d, is a feature.
/// - **Classification** (the default): labels are the target fields as written, trimmed. When
///   every label is an integer, the classes are the distinct integers in increasing order
///   (`1, 2, 3` becomes ids `0, 1, 2`), otherwise the distinct strings in byte order (`cat`,
///   `dog`, ...), as scikit-learn's `LabelEncoder`; [`classes`](CsvOptions::classes) fixes the
///   list instead, so that several files share one mapping. The mapping is kept:
///   [`Dataset::class_names`] gives the label of each id.
/// - **Regression** ([`regression`](Self::regression)): targets are numbers, like features.
/// - **Fields**: the `csv` crate's parsing, so `"quoted, fields"` work (the quote opening the
///   field, as in RFC 4180: `, "x"` keeps its quotes as text); whitespace around fields
///   is ignored, blank lines are skipped, a UTF-8 byte-order mark is dropped. Every row must have
///   as many fields as the first. Features are what Rust's float parser takes, rounded once to
///   `T`; an empty field is [`DataError::MissingValue`], anything else that is not a number
///   [`DataError::BadValue`], NaN, infinities and overflow [`DataError::NonFiniteValue`], each
///   naming `file:line:column` and the column's name.
/// - **Files**: as [`load_csv`](super::load_csv): regular files (or symlinks to one) of at most
///   [`MAX_CSV_BYTES`], UTF-8; devices, FIFOs and directories are refused before opening.
///
/// No input makes it panic.
///
/// ```
/// use tapegrad_nn::data::{Column, CsvOptions, Header};
/// let text = "sepal,petal,species\n5.1,1.4,setosa\n7.0,4.7,versicolor\n6.3,6.0,virginica\n4.9,1.4,setosa\n";
/// let iris = CsvOptions::new().header(Header::Present).target("species").parse::<f32>(text, "iris.csv")?;
/// assert_eq!((iris.len(), iris.num_features(), iris.num_classes()), (4, 2, 3));
/// assert_eq!(iris.labels(), &[0, 1, 2, 0]);
/// assert_eq!(iris.class_names().unwrap(), ["setosa", "versicolor", "virginica"]);
///
/// let houses = CsvOptions::new().target(Column::Index(0)).regression().parse::<f64>("price,rooms\n2.5,3\n4.0,5\n", "h.csv")?;
/// assert_eq!(houses.targets().data(), &[2.5, 4.0]);
/// assert_eq!(houses.features().data(), &[3.0, 5.0]);
/// # Ok::<(), tapegrad_nn::data::DataError>(())
/// ```
#[derive(Clone, Debug)]
pub struct CsvOptions<K = Classification> {
    header: Header,
    targets: Vec<Column>,
    ignore: Vec<Column>,
    delimiter: u8,
    classes: Option<Vec<String>>,
    kind: PhantomData<K>,
}

impl Default for CsvOptions<Classification> {
    fn default() -> Self {
        CsvOptions::new()
    }
}

impl CsvOptions<Classification> {
    /// Classification, header detected, the last column the target, commas between fields.
    pub fn new() -> Self {
        CsvOptions {
            header: Header::Auto,
            targets: vec![Column::Last],
            ignore: Vec::new(),
            delimiter: b',',
            classes: None,
            kind: PhantomData,
        }
    }

    /// The class labels, in id order: label `classes[c]` becomes id `c`, and a label not in the
    /// list is [`DataError::UnknownClass`]. Use it to read a train and a test file with the same
    /// mapping, or to keep a class that one file lacks.
    ///
    /// ```
    /// use tapegrad_nn::data::CsvOptions;
    /// let opts = CsvOptions::new().classes(["low", "high"]);
    /// let data = opts.parse::<f32>("1.0,high\n2.0,high\n", "t.csv")?;
    /// assert_eq!((data.labels(), data.num_classes()), (&[1, 1][..], 2));
    /// assert!(opts.parse::<f32>("1.0,mid\n", "t.csv").is_err());
    /// # Ok::<(), tapegrad_nn::data::DataError>(())
    /// ```
    pub fn classes<S: Into<String>>(mut self, classes: impl IntoIterator<Item = S>) -> Self {
        self.classes = Some(classes.into_iter().map(|c| c.into().trim().to_owned()).collect());
        self
    }

    /// The same options reading float targets.
    pub fn regression(self) -> CsvOptions<Regression> {
        CsvOptions {
            header: self.header,
            targets: self.targets,
            ignore: self.ignore,
            delimiter: self.delimiter,
            classes: None,
            kind: PhantomData,
        }
    }

    /// Reads the file at `path` as features and class labels.
    ///
    /// # Errors
    /// Any [`DataError`]; see [`CsvOptions`] for which.
    pub fn read<T: Float>(&self, path: impl AsRef<Path>) -> Result<Dataset<T>, DataError> {
        let path = path.as_ref();
        let bytes = read_bounded(path, MAX_CSV_BYTES)?;
        let file = path.display().to_string();
        self.parse(decode(&bytes, &file)?, &file)
    }

    /// Parses CSV text as features and class labels; `file` names the input in errors.
    ///
    /// # Errors
    /// Any [`DataError`] but the file ones; see [`CsvOptions`] for which.
    pub fn parse<T: Float>(&self, text: &str, file: &str) -> Result<Dataset<T>, DataError> {
        let table = Table::read(self, text, file)?;
        let column = table.targets[0];
        let mut labels = Vec::with_capacity(table.rows.len());
        for row in &table.rows {
            let field = row.fields.get(column).unwrap_or("");
            if field.is_empty() {
                return Err(DataError::MissingValue { at: table.at(row, column), column: table.name(column) });
            }
            labels.push(field);
        }
        let (ids, names) = match &self.classes {
            Some(classes) => {
                let index: BTreeMap<&str, usize> = classes.iter().enumerate().map(|(i, c)| (c.as_str(), i)).collect();
                let mut ids = Vec::with_capacity(labels.len());
                for (row, label) in table.rows.iter().zip(&labels) {
                    let Some(&id) = index.get(label) else {
                        return Err(DataError::UnknownClass {
                            at: table.at(row, column),
                            column: table.name(column),
                            label: excerpt(label),
                            num_classes: classes.len(),
                        });
                    };
                    ids.push(id);
                }
                (ids, classes.clone())
            }
            None => infer_classes(&labels)
                .ok_or_else(|| DataError::TooManyClasses { file: file.to_owned(), column: table.name(column) })?,
        };
        let features = table.numbers::<T>(&table.features)?;
        let labels = ClassLabels::new(ids, names.len()).with_names(names);
        Ok(Dataset::from_parts(features, labels))
    }
}

/// The class id of each label and the class names: distinct integers in increasing order when
/// every label is one, else distinct strings in byte order; `None` past the class limit.
fn infer_classes(labels: &[&str]) -> Option<(Vec<usize>, Vec<String>)> {
    let integers: Option<Vec<i128>> = labels.iter().map(|l| l.parse::<i128>().ok()).collect();
    match integers {
        Some(values) => {
            let distinct: BTreeSet<i128> = values.iter().copied().collect();
            if distinct.len() > MAX_INFERRED_CLASSES {
                return None;
            }
            let id: BTreeMap<i128, usize> = distinct.iter().enumerate().map(|(i, &v)| (v, i)).collect();
            Some((values.iter().map(|v| id[v]).collect(), distinct.iter().map(i128::to_string).collect()))
        }
        None => {
            let distinct: BTreeSet<&str> = labels.iter().copied().collect();
            if distinct.len() > MAX_INFERRED_CLASSES {
                return None;
            }
            let id: BTreeMap<&str, usize> = distinct.iter().enumerate().map(|(i, &v)| (v, i)).collect();
            Some((labels.iter().map(|l| id[l]).collect(), distinct.iter().map(|s| s.to_string()).collect()))
        }
    }
}

impl CsvOptions<Regression> {
    /// Several target columns, in this order (a `[n, k]` target matrix); replaces the default
    /// last column.
    ///
    /// ```
    /// use tapegrad_nn::data::CsvOptions;
    /// let data = CsvOptions::new().regression().targets(["y1", "y2"]).parse::<f64>("x,y1,y2\n1,2,3\n", "t.csv")?;
    /// assert_eq!(data.targets().shape().dims(), &[1, 2]);
    /// # Ok::<(), tapegrad_nn::data::DataError>(())
    /// ```
    pub fn targets<C: Into<Column>>(mut self, columns: impl IntoIterator<Item = C>) -> Self {
        self.targets = columns.into_iter().map(Into::into).collect();
        self
    }

    /// The same options reading class labels (from the first target column).
    pub fn classification(self) -> CsvOptions<Classification> {
        CsvOptions {
            header: self.header,
            targets: self.targets.into_iter().take(1).collect(),
            ignore: self.ignore,
            delimiter: self.delimiter,
            classes: None,
            kind: PhantomData,
        }
    }

    /// Reads the file at `path` as features and float targets.
    ///
    /// # Errors
    /// Any [`DataError`]; see [`CsvOptions`] for which.
    pub fn read<T: Float>(&self, path: impl AsRef<Path>) -> Result<RegressionDataset<T>, DataError> {
        let path = path.as_ref();
        let bytes = read_bounded(path, MAX_CSV_BYTES)?;
        let file = path.display().to_string();
        self.parse(decode(&bytes, &file)?, &file)
    }

    /// Parses CSV text as features and float targets; `file` names the input in errors.
    ///
    /// # Errors
    /// Any [`DataError`] but the file ones; see [`CsvOptions`] for which.
    pub fn parse<T: Float>(&self, text: &str, file: &str) -> Result<RegressionDataset<T>, DataError> {
        let table = Table::read(self, text, file)?;
        // Row by row, features then targets, so the first bad field in reading order is reported.
        let features = table.numbers::<T>(&table.features);
        let targets = table.numbers::<T>(&table.targets);
        match (features, targets) {
            (Ok(x), Ok(y)) => Ok(Dataset::from_parts(x, y)),
            (Err(a), Err(b)) => Err(earlier(a, b)),
            (Err(e), _) | (_, Err(e)) => Err(e),
        }
    }
}

/// The error found first in reading order (line, then column).
fn earlier(a: DataError, b: DataError) -> DataError {
    let key = |e: &DataError| e.location().map(|l| (l.line, l.column));
    if key(&b) < key(&a) { b } else { a }
}

impl<K> CsvOptions<K> {
    /// Whether the first row is a header; [`Header::Auto`] by default.
    pub fn header(mut self, header: Header) -> Self {
        self.header = header;
        self
    }

    /// The target column, by name (`"y"`), index (`3`, from 0) or [`Column::Last`] (the default).
    pub fn target(mut self, column: impl Into<Column>) -> Self {
        self.targets = vec![column.into()];
        self
    }

    /// Columns to leave out of the features (an id, a date); each must exist.
    ///
    /// ```
    /// use tapegrad_nn::data::CsvOptions;
    /// let data = CsvOptions::new().ignore(["id"]).parse::<f32>("id,x,y\n17,0.5,1\n", "t.csv")?;
    /// assert_eq!(data.features().data(), &[0.5]);
    /// # Ok::<(), tapegrad_nn::data::DataError>(())
    /// ```
    pub fn ignore<C: Into<Column>>(mut self, columns: impl IntoIterator<Item = C>) -> Self {
        self.ignore = columns.into_iter().map(Into::into).collect();
        self
    }

    /// The field separator, `b','` by default (`b';'`, `b'\t'`, ...).
    pub fn delimiter(mut self, delimiter: u8) -> Self {
        self.delimiter = delimiter;
        self
    }
}

/// One data row: its fields and the line it starts on.
struct Row {
    fields: csv::StringRecord,
    line: usize,
}

/// The parsed rows with the target and feature columns resolved.
struct Table<'a> {
    file: &'a str,
    header: Option<csv::StringRecord>,
    rows: Vec<Row>,
    targets: Vec<usize>,
    features: Vec<usize>,
}

impl<'a> Table<'a> {
    fn read<K>(opts: &CsvOptions<K>, text: &str, file: &'a str) -> Result<Self, DataError> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .trim(csv::Trim::All)
            .delimiter(opts.delimiter)
            .from_reader(text.as_bytes());
        let mut records = Vec::new();
        let mut record = csv::StringRecord::new();
        // The parser's own line count skips blank lines; count newlines up to each record's
        // first byte instead, so that line numbers are an editor's.
        let (mut line, mut counted) = (1, 0);
        loop {
            match reader.read_record(&mut record) {
                Ok(false) => break,
                Ok(true) => {}
                Err(e) => return Err(DataError::Csv { file: file.to_owned(), message: e.to_string() }),
            }
            // A line of spaces is one empty field: blank, skipped like an empty line.
            if record.len() == 1 && record[0].is_empty() {
                continue;
            }
            // The position is where the parser began, before the blank lines it skipped.
            let mut start = record.position().map_or(counted, |p| p.byte() as usize).max(counted);
            while matches!(text.as_bytes().get(start), Some(b'\n' | b'\r')) {
                start += 1;
            }
            line += text.as_bytes()[counted..start].iter().filter(|&&b| b == b'\n').count();
            counted = start;
            records.push(Row { fields: record.clone(), line });
        }
        let Some(first) = records.first() else {
            return Err(DataError::Empty { file: file.to_owned() });
        };
        let (width, first_line) = (first.fields.len(), first.line);
        let has_header = match opts.header {
            Header::Present => true,
            Header::Absent => false,
            Header::Auto => first.fields.iter().all(|f| f.parse::<f64>().is_err()),
        };
        let header = has_header.then(|| records.remove(0).fields);
        let mut table = Table { file, header, rows: records, targets: Vec::new(), features: Vec::new() };
        table.targets = opts.targets.iter().map(|c| table.resolve(c, width)).collect::<Result<_, _>>()?;
        let ignored: Vec<usize> = opts.ignore.iter().map(|c| table.resolve(c, width)).collect::<Result<_, _>>()?;
        table.features = (0..width).filter(|j| !table.targets.contains(j) && !ignored.contains(j)).collect();
        if table.features.is_empty() {
            return Err(DataError::NoFeatures { at: Location { file: file.to_owned(), line: first_line, column: 1 } });
        }
        if table.rows.is_empty() {
            return Err(DataError::Empty { file: file.to_owned() });
        }
        for row in &table.rows {
            let found = row.fields.len();
            if found != width {
                return Err(DataError::ColumnCount { at: table.at(row, found.min(width)), expected: width, found });
            }
        }
        Ok(table)
    }

    /// The position of `column` in rows of `width` fields.
    fn resolve(&self, column: &Column, width: usize) -> Result<usize, DataError> {
        let unknown = |asked: String| DataError::UnknownColumn {
            file: self.file.to_owned(),
            column: asked,
            header: self.header.iter().flat_map(|h| h.iter().map(str::to_owned)).collect(),
            width,
        };
        match column {
            Column::Last => Ok(width - 1),
            Column::Index(i) if *i < width => Ok(*i),
            Column::Index(i) => Err(unknown(format!("{i} (from 0)"))),
            Column::Name(name) => {
                let name = name.trim();
                let header = self.header.as_ref().ok_or_else(|| unknown(format!("{name:?}")))?;
                let mut matches = header.iter().enumerate().filter(|(_, h)| *h == name).map(|(j, _)| j);
                match (matches.next(), matches.next()) {
                    (Some(j), None) => Ok(j),
                    (Some(_), Some(_)) => {
                        Err(DataError::DuplicateColumn { file: self.file.to_owned(), name: name.to_owned() })
                    }
                    (None, _) => Err(unknown(format!("{name:?}"))),
                }
            }
        }
    }

    /// The column's name for messages: its header field, quoted, or `#n` from 1.
    fn name(&self, column: usize) -> String {
        match self.header.as_ref().and_then(|h| h.get(column)) {
            Some(name) => format!("{:?}", excerpt(name)),
            None => format!("#{}", column + 1),
        }
    }

    fn at(&self, row: &Row, column: usize) -> Location {
        Location { file: self.file.to_owned(), line: row.line, column: column + 1 }
    }

    /// The `[rows, columns.len()]` matrix of these columns' numbers.
    fn numbers<T: Float>(&self, columns: &[usize]) -> Result<Tensor<T>, DataError> {
        let mut values = Vec::with_capacity(self.rows.len() * columns.len());
        for row in &self.rows {
            for &j in columns {
                let field = &row.fields[j];
                let (at, column) = (|| self.at(row, j), || self.name(j));
                if field.is_empty() {
                    return Err(DataError::MissingValue { at: at(), column: column() });
                }
                let Some(x) = parse_number::<T>(field) else {
                    return Err(DataError::BadValue { at: at(), column: column(), text: excerpt(field) });
                };
                if !x.is_finite() {
                    return Err(DataError::NonFiniteValue {
                        at: at(),
                        column: column(),
                        text: excerpt(field),
                        float: T::NAME,
                    });
                }
                values.push(x);
            }
        }
        Ok(Tensor::from_vec([self.rows.len(), columns.len()], values))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classes(text: &str) -> Result<Dataset<f64>, DataError> {
        CsvOptions::new().parse(text, "t.csv")
    }

    fn regression(text: &str) -> Result<RegressionDataset<f64>, DataError> {
        CsvOptions::new().regression().parse(text, "t.csv")
    }

    /// The error's location as (line, column), after checking that its message starts with it.
    fn at(err: &DataError) -> (usize, usize) {
        let at = err.location().unwrap_or_else(|| panic!("no location: {err}"));
        assert!(err.to_string().starts_with(&format!("t.csv:{}:{}: ", at.line, at.column)), "{err}");
        (at.line, at.column)
    }

    #[test]
    fn auto_header_is_a_first_row_without_numbers() {
        let with = classes("a,b,label\n1,2,0\n3,4,1\n").unwrap();
        let without = classes("1,2,0\n3,4,1\n").unwrap();
        assert_eq!(with, without);
        assert_eq!((with.len(), with.num_features()), (2, 2));
        // One number in the first row makes it data: here a bad value at line 1, not a header.
        let err = classes("a,2,label\n1,2,0\n").unwrap_err();
        assert!(matches!(&err, DataError::BadValue { column, text, .. } if column == "#1" && text == "a"), "{err}");
        assert_eq!(at(&err), (1, 1));
        // Explicitly: a numeric header, and a first row that is data.
        let numeric = CsvOptions::new().header(Header::Present).parse::<f32>("10,20,30\n1,2,0\n", "t.csv").unwrap();
        assert_eq!(numeric.len(), 1);
        let err = CsvOptions::new().header(Header::Absent).parse::<f32>("x,y\n1,0\n", "t.csv").unwrap_err();
        assert!(matches!(err, DataError::BadValue { .. }));
    }

    #[test]
    fn string_labels_map_to_sorted_ids_and_integers_sort_numerically() {
        let data = classes("x,kind\n1,dog\n2,cat\n3,eel\n4,cat\n").unwrap();
        assert_eq!(data.labels(), &[1, 0, 2, 0]);
        assert_eq!(data.class_names().unwrap(), ["cat", "dog", "eel"]);
        // Integers: 10 sorts after 9 (not as text), and the ids are dense.
        let data = classes("1,10\n2,9\n3,1\n4,09\n").unwrap();
        assert_eq!(data.class_names().unwrap(), ["1", "9", "10"]);
        assert_eq!(data.labels(), &[2, 1, 0, 1]);
        // A float among integers makes them all strings, in byte order.
        let data = classes("1,1\n2,1.5\n3,10\n").unwrap();
        assert_eq!(data.class_names().unwrap(), ["1", "1.5", "10"]);
    }

    #[test]
    fn explicit_classes_fix_the_mapping_and_reject_others() {
        let opts = CsvOptions::new().classes(["b", "a", "unused"]);
        let data = opts.parse::<f32>("1,a\n2,b\n", "t.csv").unwrap();
        assert_eq!((data.labels(), data.num_classes()), (&[1, 0][..], 3));
        let err = opts.parse::<f32>("1,a\n2,c\n", "t.csv").unwrap_err();
        assert!(matches!(&err, DataError::UnknownClass { label, num_classes: 3, .. } if label == "c"));
        assert_eq!(at(&err), (2, 2));
        assert_eq!(err.to_string(), "t.csv:2:2: column #2: class \"c\" is not one of the 3 classes given");
    }

    #[test]
    fn targets_by_name_index_and_several_for_regression() {
        let text = "y,a,z,b\n1,2,3,4\n5,6,7,8\n";
        let data = CsvOptions::new().target("y").regression().parse::<f64>(text, "t.csv").unwrap();
        assert_eq!(data.targets().data(), &[1.0, 5.0]);
        assert_eq!(data.features().data(), &[2.0, 3.0, 4.0, 6.0, 7.0, 8.0]);
        let data = CsvOptions::new().regression().targets([Column::Name("z".into()), Column::Index(0)]);
        let data = data.parse::<f64>(text, "t.csv").unwrap();
        // Targets in the order asked for; features the rest, in file order.
        assert_eq!(data.targets().data(), &[3.0, 1.0, 7.0, 5.0]);
        assert_eq!(data.features().data(), &[2.0, 4.0, 6.0, 8.0]);
        let data = CsvOptions::new().target(2).ignore(["a"]).parse::<f32>(text, "t.csv").unwrap();
        assert_eq!(data.features().data(), &[1.0, 4.0, 5.0, 8.0]);
        assert_eq!(data.class_names().unwrap(), ["3", "7"]);
    }

    #[test]
    fn unknown_and_duplicate_columns_are_errors_naming_them() {
        let err = CsvOptions::new().target("price").parse::<f32>("a,b\n1,2\n", "t.csv").unwrap_err();
        assert!(matches!(&err, DataError::UnknownColumn { header, width: 2, .. } if header == &["a", "b"]));
        assert_eq!(err.to_string(), "t.csv: no column \"price\"; the header has a, b");
        let err = CsvOptions::new().target("price").parse::<f32>("1,2\n", "t.csv").unwrap_err();
        assert_eq!(err.to_string(), "t.csv: no column \"price\": the input has no header row and 2 fields per row");
        let err = CsvOptions::new().target(5).parse::<f32>("1,2\n", "t.csv").unwrap_err();
        assert_eq!(err.to_string(), "t.csv: no column 5 (from 0): the input has no header row and 2 fields per row");
        let err = CsvOptions::new().target("a").parse::<f32>("a,a,b\n1,2,3\n", "t.csv").unwrap_err();
        assert!(matches!(&err, DataError::DuplicateColumn { name, .. } if name == "a"));
        let err = CsvOptions::new().ignore([0]).parse::<f32>("1,2\n", "t.csv").unwrap_err();
        assert!(matches!(err, DataError::NoFeatures { .. }));
    }

    #[test]
    fn missing_and_bad_values_name_file_line_column_and_column_name() {
        let text = "age,bmi,y\n50,22.5,1\n\n61,,0\n";
        let err = regression(text).unwrap_err();
        assert!(matches!(&err, DataError::MissingValue { column, .. } if column == "\"bmi\""));
        // Line 4: the blank line 3 counts.
        assert_eq!(at(&err), (4, 2));
        assert_eq!(err.to_string(), "t.csv:4:2: column \"bmi\": empty field, expected a value");
        let err = regression("age,bmi,y\n50,22.5,1\n61,NA,0\n").unwrap_err();
        assert_eq!(err.to_string(), "t.csv:3:2: column \"bmi\": expected a number, found \"NA\"");
        let err = regression("age,bmi,y\n50,22.5,?\n").unwrap_err();
        assert_eq!(err.to_string(), "t.csv:2:3: column \"y\": expected a number, found \"?\"");
        let err = classes("age,bmi,y\n50,22.5,\n").unwrap_err();
        assert_eq!(err.to_string(), "t.csv:2:3: column \"y\": empty field, expected a value");
        let err = CsvOptions::new().regression().parse::<f32>("x,y\n1e39,1\n", "t.csv").unwrap_err();
        assert!(matches!(err, DataError::NonFiniteValue { float: "f32", .. }));
        assert_eq!(at(&err), (2, 1));
        for bad in ["nan", "inf", "-Infinity"] {
            assert!(matches!(regression(&format!("x,y\n1,{bad}\n")), Err(DataError::NonFiniteValue { .. })), "{bad}");
        }
    }

    #[test]
    fn the_first_bad_field_in_reading_order_is_reported() {
        // The target on line 2 comes before the feature on line 3.
        let err = regression("x,y\n1,oops\nbad,2\n").unwrap_err();
        assert_eq!(at(&err), (2, 2));
        let err = CsvOptions::new().target(0).regression().parse::<f64>("y,x\n1,2\n3,bad\n4,5\n", "t.csv").unwrap_err();
        assert_eq!(at(&err), (3, 2));
    }

    #[test]
    fn quoting_delimiters_whitespace_crlf_and_a_bom_are_handled() {
        let plain = classes("x,y,label\n1,2,a b\n3,4,c\n").unwrap();
        for text in [
            "\u{feff}x,y,label\r\n1,2,a b\r\n3,4,c\r\n",
            "\"x\",\"y\" ,label\n 1 ,2,\"a b\"\n\n  \n3,4,c",
            "x,y,label\n1,\"2\",a b\n3,4,\"c\"\n\n",
        ] {
            assert_eq!(classes(text).unwrap(), plain, "{text:?}");
        }
        // A comma inside quotes is part of the label.
        let data = classes("x,city\n1,\"Paris, TX\"\n2,Paris\n").unwrap();
        assert_eq!(data.class_names().unwrap(), ["Paris", "Paris, TX"]);
        let semi = CsvOptions::new().delimiter(b';').parse::<f64>("x;y;label\n1;2;a b\n3;4;c\n", "t.csv").unwrap();
        assert_eq!(semi, plain);
    }

    #[test]
    fn ragged_rows_and_empty_inputs_are_errors() {
        let err = classes("a,b,c\n1,2,0\n1,2\n").unwrap_err();
        assert!(matches!(err, DataError::ColumnCount { expected: 3, found: 2, .. }));
        assert_eq!(at(&err), (3, 3));
        for text in ["", "\n\n", "a,b,c\n", "\u{feff}"] {
            assert!(matches!(classes(text), Err(DataError::Empty { .. })), "{text:?}");
        }
        assert!(matches!(classes("1\n2\n"), Err(DataError::NoFeatures { .. })));
    }

    #[test]
    fn a_float_target_read_as_classes_past_the_limit_says_so() {
        let text: String = (0..=MAX_INFERRED_CLASSES).map(|i| format!("1,{i}.5\n")).collect();
        let err = classes(&text).unwrap_err();
        assert!(matches!(err, DataError::TooManyClasses { .. }));
        assert!(err.to_string().contains("is it a float target (read it as regression)?"), "{err}");
    }

    #[test]
    fn files_are_refused_as_load_csv_refuses_them() {
        let opts = CsvOptions::new();
        #[cfg(unix)]
        for device in ["/dev/zero", "/dev/null"] {
            assert!(matches!(opts.read::<f32>(device), Err(DataError::NotAFile { .. })), "{device}");
            assert!(matches!(opts.clone().regression().read::<f32>(device), Err(DataError::NotAFile { .. })));
        }
        assert!(matches!(opts.read::<f32>(env!("CARGO_MANIFEST_DIR")), Err(DataError::NotAFile { .. })));
        let dir = testkit::TempDir::new("csv-reader");
        let path = dir.path().join("bad.csv");
        std::fs::write(&path, b"x,y\n1,\xff\n").unwrap();
        let err = opts.read::<f32>(&path).unwrap_err();
        assert!(matches!(err, DataError::InvalidUtf8 { .. }));
        assert_eq!(err.location().map(|l| (l.line, l.column)), Some((2, 2)));
        let missing = dir.path().join("missing.csv");
        assert!(matches!(opts.read::<f32>(&missing), Err(DataError::Io { .. })));
    }

    #[cfg(unix)]
    #[test]
    fn a_fifo_is_refused_without_blocking_and_a_symlink_is_followed() {
        let dir = testkit::TempDir::new("csv-reader-fifo");
        let fifo = dir.path().join("pipe.csv");
        let status = std::process::Command::new("mkfifo").arg(&fifo).status().expect("run mkfifo");
        assert!(status.success());
        let (tx, rx) = std::sync::mpsc::channel();
        let path = fifo.clone();
        std::thread::spawn(move || tx.send(CsvOptions::new().regression().read::<f32>(&path).map(|_| ())));
        let outcome = rx.recv_timeout(std::time::Duration::from_secs(10)).expect("the reader blocked on a FIFO");
        assert!(matches!(outcome, Err(DataError::NotAFile { .. })));
        let target = dir.path().join("data.csv");
        std::fs::write(&target, "x,y\n1,2\n").unwrap();
        let link = dir.path().join("link.csv");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let opts = CsvOptions::new().regression();
        assert_eq!(opts.read::<f32>(&link).unwrap(), opts.read::<f32>(&target).unwrap());
    }
}
