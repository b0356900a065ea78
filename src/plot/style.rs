//! The one look shared by every figure: the Okabe–Ito colour-blind-safe palette, DejaVu Sans at
//! fixed sizes, number formats for ticks and labels.

use plotters::style::RGBColor;

/// The font family every text is drawn in (the bundled DejaVu Sans, registered under this name).
pub const FONT: &str = "sans-serif";
/// Size of a figure's title, in pixels.
pub const TITLE_SIZE: u32 = 28;
/// Size of a panel's title.
pub const PANEL_TITLE_SIZE: u32 = 22;
/// Size of an axis label.
pub const AXIS_LABEL_SIZE: u32 = 20;
/// Size of tick labels.
pub const TICK_SIZE: u32 = 17;
/// Size of legend entries.
pub const LEGEND_SIZE: u32 = 17;
/// Width of every figure, in pixels; heights depend on the chart.
pub const WIDTH: u32 = 1200;

/// A colour of the Okabe & Ito (2008) palette, distinguishable with every common colour-vision
/// deficiency, plus a neutral grey.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Colour {
    /// Okabe–Ito blue (0, 114, 178).
    Blue,
    /// Okabe–Ito orange (230, 159, 0).
    Orange,
    /// Okabe–Ito bluish green (0, 158, 115).
    Green,
    /// Okabe–Ito vermillion (213, 94, 0).
    Vermillion,
    /// Okabe–Ito reddish purple (204, 121, 167).
    Purple,
    /// Okabe–Ito sky blue (86, 180, 233).
    Sky,
    /// Okabe–Ito yellow (240, 228, 66).
    Yellow,
    /// A neutral grey for references and context.
    Grey,
}

impl Colour {
    /// The palette in the order series without a fixed colour take it.
    pub const CYCLE: [Colour; 7] =
        [Colour::Blue, Colour::Orange, Colour::Green, Colour::Vermillion, Colour::Purple, Colour::Sky, Colour::Yellow];

    /// The `i`-th colour of [`Colour::CYCLE`], repeating.
    pub fn nth(i: usize) -> Colour {
        Colour::CYCLE[i % Colour::CYCLE.len()]
    }

    /// The colour as plotters' RGB.
    pub fn rgb(self) -> RGBColor {
        match self {
            Colour::Blue => RGBColor(0, 114, 178),
            Colour::Orange => RGBColor(230, 159, 0),
            Colour::Green => RGBColor(0, 158, 115),
            Colour::Vermillion => RGBColor(213, 94, 0),
            Colour::Purple => RGBColor(204, 121, 167),
            Colour::Sky => RGBColor(86, 180, 233),
            Colour::Yellow => RGBColor(240, 228, 66),
            Colour::Grey => RGBColor(110, 110, 110),
        }
    }
}

/// `10^k` written with superscript digits, e.g. `10⁻³`: a label for noise levels and log ticks.
pub fn power_of_ten(k: i32) -> String {
    const DIGITS: [char; 10] = ['⁰', '¹', '²', '³', '⁴', '⁵', '⁶', '⁷', '⁸', '⁹'];
    let digits: String = k.unsigned_abs().to_string().chars().map(|d| DIGITS[d as usize - '0' as usize]).collect();
    format!("10{}{digits}", if k < 0 { "⁻" } else { "" })
}

/// A value with about three significant digits for people: `0.0123`, `45.6`, `1.2·10⁻⁷`
/// (exponent form below 10⁻³ and from 10⁵ on), `0` for zero, `—` for a non-finite value.
pub fn format_value(v: f64) -> String {
    let a = v.abs();
    if !a.is_finite() {
        return "—".into();
    }
    if a == 0.0 {
        return "0".into();
    }
    if !(1e-3..1e5).contains(&a) {
        let k = a.log10().floor() as i32;
        let mantissa = v / 10f64.powi(k);
        let m = trim(format!("{mantissa:.1}"));
        return if m == "1" || m == "-1" {
            format!("{}{}", if v < 0.0 { "−" } else { "" }, power_of_ten(k))
        } else {
            format!("{}·{}", m.replace('-', "−"), power_of_ten(k))
        };
    }
    let decimals = (2.0 - a.log10().floor()).max(0.0) as usize;
    trim(format!("{v:.decimals$}")).replace('-', "−")
}

/// `1.50` → `1.5`, `2.0` → `2`; integers stay as they are.
fn trim(text: String) -> String {
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    }
}
