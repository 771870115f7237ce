//! `--report DIR`: the training curves and the worst predictions as SVG pictures, and every
//! number as JSON.
//!
//! The pictures are drawn with `plotters` into strings and then written with `std::fs`, so a
//! file that cannot be written is reported with its path, like every other I/O error here.

use crate::options::Config;
use crate::show::MAX_PIXEL;
use crate::training::{EpochMetrics, Prediction};
use plotters::coord::Shift;
use plotters::prelude::*;
use serde_json::json;
use std::path::{Path, PathBuf};

const TRAIN_COLOR: RGBColor = RGBColor(31, 119, 180);
const TEST_COLOR: RGBColor = RGBColor(214, 39, 40);
const RIGHT_COLOR: RGBColor = RGBColor(44, 160, 44);
const OTHER_COLOR: RGBColor = RGBColor(170, 170, 170);

/// Everything the report shows.
pub struct Report<'a> {
    pub config: &'a Config,
    pub train_size: usize,
    pub test_size: usize,
    pub history: &'a [EpochMetrics],
    pub confusion: &'a [Vec<usize>],
    pub worst: &'a [Prediction],
    /// The pixels of the test set as loaded, a row per sample.
    pub test_pixels: &'a tapegrad::autograd::Tensor<f32>,
}

/// The files [`write`] writes into its directory, in order.
pub const FILES: [&str; 4] = ["loss.svg", "accuracy.svg", "worst.svg", "metrics.json"];

/// Checks, before any training, that the run's outputs can be written, so that a bad path
/// costs no training run: `--save`'s path as [`tapegrad::nn::io::check_save_target`] does (a
/// writable regular file with one link, or nothing, in an existing directory), and that
/// `--report`'s directory exists or can be created (it is created) and that each of its
/// [`FILES`] is absent or a regular file (a symbolic link is judged by what it points to, as
/// writing follows it). The report directory is created first, since `--save` may point into it.
///
/// # Errors
/// A one-line message naming the path that cannot be written.
pub fn check_outputs(save: Option<&Path>, report: Option<&Path>) -> Result<(), String> {
    if let Some(dir) = report {
        std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        for name in FILES {
            let path = dir.join(name);
            match std::fs::metadata(&path) {
                Ok(m) if m.is_file() => {}
                Ok(_) => return Err(format!("cannot write the report to {}: not a regular file", path.display())),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(format!("cannot write the report to {}: {e}", path.display())),
            }
        }
    }
    if let Some(path) = save {
        tapegrad::nn::io::check_save_target(path).map_err(|e| format!("cannot save the model: {e}"))?;
    }
    Ok(())
}

/// Writes the report's four files into `dir`, creating it if needed; returns their paths.
///
/// # Errors
/// A one-line message naming the file that could not be written.
pub fn write(dir: &Path, report: &Report) -> Result<Vec<PathBuf>, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let contents = [
        loss_chart(report.history),
        accuracy_chart(report.history),
        worst_chart(report.worst, report.test_pixels),
        Ok(metrics_json(report)),
    ];
    let files = FILES.into_iter().zip(contents);
    let mut written = Vec::new();
    for (name, contents) in files {
        let path = dir.join(name);
        let contents = contents.map_err(|e| format!("cannot draw {}: {e}", path.display()))?;
        std::fs::write(&path, contents).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        written.push(path);
    }
    Ok(written)
}

type DrawResult = Result<(), Box<dyn std::error::Error>>;

/// Draws onto an SVG held in memory.
fn svg(size: (u32, u32), draw: impl FnOnce(&DrawingArea<SVGBackend, Shift>) -> DrawResult) -> Result<String, String> {
    let mut text = String::new();
    {
        let root = SVGBackend::with_string(&mut text, size).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        draw(&root).map_err(|e| e.to_string())?;
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(text)
}

/// Train and test loss per epoch, on a log scale: the training loss keeps falling long after
/// the test loss has levelled off, and only a log scale shows both.
fn loss_chart(history: &[EpochMetrics]) -> Result<String, String> {
    let losses = history.iter().flat_map(|m| [m.train_loss, m.test_loss]);
    let (low, high) = losses.fold((f64::INFINITY, 0.0f64), |(lo, hi), x| (lo.min(x), hi.max(x)));
    // A log scale cannot reach 0, and an f32 loss can round to exactly 0 on a memorised set.
    let (low, high) = (low.max(1e-6), high.max(1e-5));
    svg((720, 420), |root| {
        let mut chart = ChartBuilder::on(root)
            .caption("Cross-entropy loss per epoch", ("sans-serif", 22))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(64)
            .build_cartesian_2d(0.0..last_epoch(history), (low * 0.8..high * 1.25).log_scale())?;
        chart
            .configure_mesh()
            .x_desc("epoch")
            .y_desc("loss (log scale)")
            .x_labels(epoch_ticks(history))
            .x_label_formatter(&|x| format!("{x:.0}"))
            .y_labels(8)
            .y_label_formatter(&|y| decimal(*y))
            .draw()?;
        curve(&mut chart, history, |m| m.train_loss, "train", TRAIN_COLOR)?;
        curve(&mut chart, history, |m| m.test_loss, "test", TEST_COLOR)?;
        legend(&mut chart)
    })
}

/// Train and test accuracy per epoch, from the lowest seen up to 1.
fn accuracy_chart(history: &[EpochMetrics]) -> Result<String, String> {
    // Skip epoch 0 (chance, about 0.1) when choosing the range, or it flattens the rest.
    let trained = history.iter().filter(|m| m.epoch > 0);
    let low = trained.flat_map(|m| [m.train_accuracy, m.test_accuracy]).fold(1.0f64, f64::min);
    let low = ((low - 0.02) * 20.0).floor() / 20.0;
    svg((720, 420), |root| {
        let mut chart = ChartBuilder::on(root)
            .caption("Accuracy per epoch", ("sans-serif", 22))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(64)
            .build_cartesian_2d(0.0..last_epoch(history), low.max(0.0)..1.0)?;
        chart
            .configure_mesh()
            .x_desc("epoch")
            .y_desc("accuracy")
            .x_labels(epoch_ticks(history))
            .x_label_formatter(&|x| format!("{x:.0}"))
            .draw()?;
        let shown = |m: &EpochMetrics| m.epoch > 0;
        let trained: Vec<EpochMetrics> = history.iter().filter(|m| shown(m)).cloned().collect();
        curve(&mut chart, &trained, |m| m.train_accuracy, "train", TRAIN_COLOR)?;
        curve(&mut chart, &trained, |m| m.test_accuracy, "test", TEST_COLOR)?;
        legend(&mut chart)
    })
}

/// The x range's end: at least 1, so that a single epoch still makes a range.
fn last_epoch(history: &[EpochMetrics]) -> f64 {
    history.last().map_or(1, |m| m.epoch.max(1)) as f64
}

/// At most one tick per epoch, so that a short run's axis does not repeat whole numbers.
fn epoch_ticks(history: &[EpochMetrics]) -> usize {
    (last_epoch(history) as usize + 1).min(11)
}

/// `y` with as many decimals as its first significant digit needs: 3, 0.2, 0.05.
fn decimal(y: f64) -> String {
    let decimals = (-y.log10().floor()).max(0.0) as usize;
    format!("{y:.decimals$}")
}

type LineChart<'a, 'b, Y> = ChartContext<'a, SVGBackend<'b>, Cartesian2d<plotters::coord::types::RangedCoordf64, Y>>;

/// One line with a dot per epoch.
fn curve<Y: Ranged<ValueType = f64>>(
    chart: &mut LineChart<'_, '_, Y>,
    history: &[EpochMetrics],
    value: impl Fn(&EpochMetrics) -> f64,
    label: &str,
    color: RGBColor,
) -> DrawResult {
    let points: Vec<(f64, f64)> = history.iter().map(|m| (m.epoch as f64, value(m))).collect();
    chart
        .draw_series(LineSeries::new(points.iter().copied(), color.stroke_width(2)))?
        .label(label)
        .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], color.stroke_width(2)));
    chart.draw_series(points.iter().map(|&p| Circle::new(p, 3, color.filled())))?;
    Ok(())
}

fn legend<'a, 'b: 'a, Y: Ranged<ValueType = f64>>(chart: &mut LineChart<'a, 'b, Y>) -> DrawResult {
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::MiddleRight)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()?;
    Ok(())
}

/// A row per sample: its image, then a bar per class, the true class green and a wrong
/// prediction red.
fn worst_chart(worst: &[Prediction], pixels: &tapegrad::autograd::Tensor<f32>) -> Result<String, String> {
    let row_height = 170;
    let height = row_height * worst.len().max(1) as u32 + 50;
    svg((760, height), |root| {
        let root = root.titled(
            "The test samples with the highest loss (green: true label, red: wrong prediction)",
            ("sans-serif", 20),
        )?;
        for (row, p) in root.split_evenly((worst.len().max(1), 1)).iter().zip(worst) {
            let (image, bars) = row.split_horizontally(190);
            digit_image(&image.margin(10, 10, 20, 10), pixels.row(p.index))?;
            probability_bars(&bars, p)?;
        }
        Ok(())
    })
}

/// An 8x8 image as grey squares: white for 0, black for 16, as the digits were scanned.
fn digit_image(area: &DrawingArea<SVGBackend, Shift>, pixels: &[f32]) -> DrawResult {
    let (w, h) = area.dim_in_pixel();
    let cell = (w.min(h) / 8) as i32;
    for (i, &v) in pixels.iter().enumerate() {
        let (row, col) = ((i / 8) as i32, (i % 8) as i32);
        let grey = (255.0 * (1.0 - (v / MAX_PIXEL).clamp(0.0, 1.0))).round() as u8;
        let square = [(col * cell, row * cell), ((col + 1) * cell, (row + 1) * cell)];
        area.draw(&Rectangle::new(square, RGBColor(grey, grey, grey).filled()))?;
    }
    area.draw(&Rectangle::new([(0, 0), (8 * cell, 8 * cell)], BLACK.stroke_width(1)))?;
    Ok(())
}

fn probability_bars(area: &DrawingArea<SVGBackend, Shift>, p: &Prediction) -> DrawResult {
    let title = format!("sample {}: true {}, predicted {}, loss {:.2}", p.index, p.label, p.predicted, p.loss);
    let classes = p.probabilities.len();
    let mut chart = ChartBuilder::on(area)
        .caption(title, ("sans-serif", 16))
        .margin(8)
        .x_label_area_size(24)
        .y_label_area_size(40)
        .build_cartesian_2d((0..classes - 1).into_segmented(), 0.0..1.0)?;
    chart.configure_mesh().disable_x_mesh().y_labels(3).x_labels(classes).draw()?;
    chart.draw_series(
        Histogram::vertical(&chart)
            .margin(6)
            .style_func(|class, _| {
                let class = match *class {
                    SegmentValue::Exact(c) | SegmentValue::CenterOf(c) => c,
                    SegmentValue::Last => usize::MAX,
                };
                if class == p.label {
                    RIGHT_COLOR.filled()
                } else if class == p.predicted {
                    TEST_COLOR.filled()
                } else {
                    OTHER_COLOR.filled()
                }
            })
            .data(p.probabilities.iter().copied().enumerate()),
    )?;
    Ok(())
}

fn metrics_json(report: &Report) -> String {
    let c = report.config;
    let epochs: Vec<_> = report
        .history
        .iter()
        .map(|m| {
            json!({
                "epoch": m.epoch,
                "train_loss": m.train_loss,
                "train_accuracy": m.train_accuracy,
                "test_loss": m.test_loss,
                "test_accuracy": m.test_accuracy,
                "seconds": m.elapsed.as_secs_f64(),
            })
        })
        .collect();
    let worst: Vec<_> = report
        .worst
        .iter()
        .map(|p| {
            json!({
                "test_index": p.index,
                "label": p.label,
                "predicted": p.predicted,
                "loss": p.loss,
                "probabilities": p.probabilities,
            })
        })
        .collect();
    let value = json!({
        "config": {
            "preset": c.preset.name(),
            "data": c.data.display().to_string(),
            "hidden": c.hidden,
            "activation": c.activation.name(),
            "init": format!("{:?}", c.init),
            "optimizer": c.optimizer.name(),
            "lr": c.lr,
            "momentum": c.momentum,
            "weight_decay": c.weight_decay,
            "batch_size": c.batch_size,
            "epochs": c.epochs,
            "seed": c.seed,
        },
        "train_size": report.train_size,
        "test_size": report.test_size,
        "epochs": epochs,
        "test_accuracy": report.history.last().map(|m| m.test_accuracy),
        "confusion_matrix": report.confusion,
        "worst": worst,
    });
    serde_json::to_string_pretty(&value).expect("a JSON value always serialises") + "\n"
}
