//! Bounding boxes, the answers of a `boxes` project: each box is one string
//! `x,y,w,h:label` in coordinates relative to the image (0 to 1, top-left origin), so a box
//! answer travels as labels do.

use std::fmt;

/// Slack for coordinates that reach the image's edge through rounding.
const EDGE: f64 = 1e-6;

/// One labelled rectangle on a task's image, in image-relative coordinates.
#[derive(Debug, Clone, PartialEq)]
pub struct BoundingBox {
    pub x: f64,
    pub y: f64,
    pub w: f64,
    pub h: f64,
    pub label: String,
}

impl BoundingBox {
    /// Reads `x,y,w,h:label`; the box must have an area and lie within the image.
    ///
    /// ```
    /// use tessera_core::BoundingBox;
    /// let b = BoundingBox::parse("0.1,0.2,0.5,0.25:car").unwrap();
    /// assert_eq!(b.to_string(), "0.1,0.2,0.5,0.25:car"); // every digit kept
    /// assert!(BoundingBox::parse("0.8,0.2,0.5,0.25:car").is_none()); // past the right edge
    /// ```
    pub fn parse(text: &str) -> Option<BoundingBox> {
        let (coords, label) = text.split_once(':')?;
        let mut numbers = coords.split(',').map(|n| n.trim().parse::<f64>().ok());
        let (x, y, w, h) = (
            numbers.next()??,
            numbers.next()??,
            numbers.next()??,
            numbers.next()??,
        );
        let inside = x >= -EDGE && y >= -EDGE && x + w <= 1.0 + EDGE && y + h <= 1.0 + EDGE;
        (numbers.next().is_none() && w > 0.0 && h > 0.0 && inside && !label.is_empty()).then(|| {
            BoundingBox {
                x,
                y,
                w,
                h,
                label: label.to_owned(),
            }
        })
    }

    /// A box in shares of the image (`x, y` its top left corner), cut at the image's edge when
    /// it strays past it (a drag past the border, rounding), with whether it was cut; `None`
    /// when nothing of it is inside the image. A box inside keeps its numbers as given.
    pub fn within_image(x: f64, y: f64, w: f64, h: f64, label: &str) -> Option<(Self, bool)> {
        let (x0, y0, x1, y1) = (x.max(0.0), y.max(0.0), (x + w).min(1.0), (y + h).min(1.0));
        if !(x1 > x0 && y1 > y0) || label.is_empty() {
            return None;
        }
        let cut_x = x < 0.0 || x + w > 1.0;
        let cut_y = y < 0.0 || y + h > 1.0;
        Some((
            BoundingBox {
                x: x0,
                y: y0,
                w: if cut_x { x1 - x0 } else { w },
                h: if cut_y { y1 - y0 } else { h },
                label: label.to_owned(),
            },
            cut_x || cut_y,
        ))
    }

    /// Intersection over union with `other` (0 when apart, 1 when the same).
    pub fn iou(&self, other: &BoundingBox) -> f64 {
        let ix = (self.x + self.w).min(other.x + other.w) - self.x.max(other.x);
        let iy = (self.y + self.h).min(other.y + other.h) - self.y.max(other.y);
        if ix <= 0.0 || iy <= 0.0 {
            return 0.0;
        }
        let inter = ix * iy;
        inter / (self.w * self.h + other.w * other.h - inter)
    }
}

/// Every digit of each coordinate: a box imported from another tool keeps its precision.
impl fmt::Display for BoundingBox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{},{},{},{}:{}",
            self.x, self.y, self.w, self.h, self.label
        )
    }
}

/// `x` times 10^`places`, moved in decimal: the shortest decimal that reads back as `x`, its
/// point shifted, read again. Percent to share and back so stays digit for digit what the
/// file said (0.41 % is 0.0041, not the 0.0040999999999999995 that `0.41 / 100` gives).
pub fn shift_decimal(x: f64, places: i32) -> f64 {
    let written = format!("{x:e}");
    match written.split_once('e') {
        Some((mantissa, exponent)) => exponent
            .parse::<i32>()
            .ok()
            .and_then(|e| format!("{mantissa}e{}", e + places).parse().ok())
            .unwrap_or(x * 10f64.powi(places)),
        None => x,
    }
}

/// Boxes of different answers this much alike (intersection over union) mark one object.
pub const SAME_OBJECT_IOU: f64 = 0.5;

/// The consensus of several answers' boxes: boxes of the same label overlapping by
/// [`SAME_OBJECT_IOU`] or more are one object (at most one box per answer, greedily, the
/// best overlap first); an object marked by more than half of the answers is in the
/// consensus as the mean of its boxes. Confidence is the weakest agreement on an object,
/// in or out. Returns the boxes in reading order and the confidence.
pub fn merge_boxes(answers: &[Vec<BoundingBox>]) -> (Vec<BoundingBox>, f64) {
    let n = answers.len() as f64;
    // Every box with its answer, in a fixed order so the result does not depend on it.
    let mut all: Vec<(usize, &BoundingBox)> = answers
        .iter()
        .enumerate()
        .flat_map(|(i, boxes)| boxes.iter().map(move |b| (i, b)))
        .collect();
    all.sort_by(|(_, a), (_, b)| {
        a.label
            .cmp(&b.label)
            .then(a.y.total_cmp(&b.y))
            .then(a.x.total_cmp(&b.x))
            .then(a.w.total_cmp(&b.w))
            .then(a.h.total_cmp(&b.h))
    });
    let mut taken = vec![false; all.len()];
    let (mut merged, mut confidence) = (Vec::new(), 1.0f64);
    for seed in 0..all.len() {
        if taken[seed] {
            continue;
        }
        taken[seed] = true;
        let (seed_answer, seed_box) = all[seed];
        let mut members = vec![seed_box];
        let mut answered = vec![seed_answer];
        for answer in 0..answers.len() {
            if answered.contains(&answer) {
                continue;
            }
            let best = (0..all.len())
                .filter(|&j| !taken[j] && all[j].0 == answer && all[j].1.label == seed_box.label)
                .map(|j| (j, seed_box.iou(all[j].1)))
                .filter(|&(_, iou)| iou >= SAME_OBJECT_IOU)
                .max_by(|a, b| a.1.total_cmp(&b.1));
            if let Some((j, _)) = best {
                taken[j] = true;
                members.push(all[j].1);
                answered.push(answer);
            }
        }
        let share = members.len() as f64 / n;
        confidence = confidence.min(share.max(1.0 - share));
        if share > 0.5 {
            let k = members.len() as f64;
            // A millionth of the image (a hundredth of a pixel at 10,000 pixels) is precision
            // enough for a mean, and keeps 0.2 from printing as 0.20000000000000004.
            let mean = |f: fn(&BoundingBox) -> f64| {
                (members.iter().map(|b| f(b)).sum::<f64>() / k * 1e6).round() / 1e6
            };
            merged.push(BoundingBox {
                x: mean(|b| b.x),
                y: mean(|b| b.y),
                w: mean(|b| b.w),
                h: mean(|b| b.h),
                label: seed_box.label.clone(),
            });
        }
    }
    merged.sort_by(|a, b| a.y.total_cmp(&b.y).then(a.x.total_cmp(&b.x)));
    (merged, confidence)
}

#[cfg(test)]
mod tests {
    #[test]
    fn percent_and_share_convert_digit_for_digit() {
        for (percent, share) in [
            (42.61, 0.4261),
            (0.41, 0.0041),
            (0.46, 0.0046),
            (4.857412088705009, 0.04857412088705009),
            (100.0, 1.0),
            (0.0, 0.0),
            (7.5e-7, 7.5e-9),
        ] {
            assert_eq!(super::shift_decimal(percent, -2), share, "{percent}");
            assert_eq!(super::shift_decimal(share, 2), percent, "{share}");
        }
        assert_ne!(
            0.41 / 100.0,
            0.0041,
            "the plain division is what this avoids"
        );
    }

    use super::*;

    fn b(s: &str) -> BoundingBox {
        BoundingBox::parse(s).expect("box")
    }

    #[test]
    fn boxes_parse_strictly_and_overlap_is_measured() {
        for bad in [
            "0.1,0.1,0.2:car",
            "0.1,0.1,0.2,0.2",
            "0.1,0.1,0,0.2:car",
            "-0.1,0.1,0.2,0.2:car",
            "0.1,0.9,0.2,0.2:car",
            "0.1,0.1,0.2,0.2,0.3:car",
            "0.1,0.1,0.2,0.2:",
        ] {
            assert_eq!(BoundingBox::parse(bad), None, "{bad:?}");
        }
        assert_eq!(b("0,0,1,1:a:b").label, "a:b");
        assert_eq!(b("0,0,0.5,0.5:a").iou(&b("0,0,0.5,0.5:a")), 1.0);
        assert_eq!(b("0,0,0.5,0.5:a").iou(&b("0.5,0.5,0.5,0.5:a")), 0.0);
        assert!((b("0,0,0.4,0.4:a").iou(&b("0.2,0,0.4,0.4:a")) - 1.0 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn objects_most_annotators_boxed_are_merged_whatever_the_order() {
        let one = vec![
            b("0.10,0.10,0.20,0.20:car"),
            b("0.60,0.60,0.20,0.20:person"),
        ];
        let two = vec![b("0.12,0.10,0.20,0.20:car")];
        let three = vec![b("0.11,0.12,0.20,0.20:car"), b("0.62,0.6,0.2,0.2:dog")];
        for answers in [
            vec![one.clone(), two.clone(), three.clone()],
            vec![three, one, two],
        ] {
            let (merged, confidence) = merge_boxes(&answers);
            let shown: Vec<String> = merged.iter().map(ToString::to_string).collect();
            assert_eq!(shown, ["0.11,0.106667,0.2,0.2:car"]);
            // The person and the dog were each boxed by one answer of three.
            assert!((confidence - 2.0 / 3.0).abs() < 1e-12);
        }
        assert_eq!(merge_boxes(&[vec![], vec![]]), (vec![], 1.0));
    }
}
