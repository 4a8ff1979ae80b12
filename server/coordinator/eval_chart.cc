#include "server/coordinator/eval_chart.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace descent {
namespace {

// The canvas and, inside it, the plot area; around it the caption, the axes'
// labels and the legend.
constexpr int kWidth = 900;
constexpr int kHeight = 520;
constexpr double kPlotLeft = 80;
constexpr double kPlotRight = 820;
constexpr double kPlotTop = 80;
constexpr double kPlotBottom = 430;

struct Series {
  const char* id;     // its evals.csv column
  const char* label;  // in the legend
  double EvalRow::*value;
  bool right_axis;  // on the 0..1 axis, dashed
  bool always;      // drawn even when no row holds a value
  const char* color;
};

constexpr Series kSeries[] = {
    {"train_loss", "train loss", &EvalRow::train_loss, false, true, "#1f77b4"},
    {"test_loss", "test loss", &EvalRow::test_loss, false, true, "#ff7f0e"},
    {"test_rmse", "test RMSE", &EvalRow::test_rmse, false, false, "#9467bd"},
    {"test_accuracy", "test accuracy", &EvalRow::test_accuracy, true, false,
     "#2ca02c"},
    {"test_auc", "test AUC", &EvalRow::test_auc, true, false, "#d62728"},
};

// Values lo..hi drawn at pixels from..to, a tick every `tick` from lo.
struct Axis {
  double lo = 0, hi = 1, tick = 0.2;
  double from = 0, to = 1;

  double Map(double value) const {
    return from + (value - lo) / (hi - lo) * (to - from);
  }
  // Enough decimals to tell the ticks apart, no more.
  std::string Label(double value) const {
    const int decimals =
        std::max(0, static_cast<int>(-std::floor(std::log10(tick) + 1e-9)));
    return absl::StrFormat("%.*f", decimals, value);
  }
};

// 1, 2 or 5 times a power of ten, giving about five ticks over `span` > 0.
double NiceTick(double span) {
  const double raw = span / 5;
  const double magnitude = std::pow(10, std::floor(std::log10(raw)));
  const double norm = raw / magnitude;
  const double nice = norm < 1.5 ? 1 : norm < 3 ? 2 : norm < 7 ? 5 : 10;
  return nice * magnitude;
}

// An axis over [min, max] (both finite, or min > max for no values) with
// ends on ticks. A single value is widened around it, so that Map never
// divides by zero, without going below 0 if the value does not.
Axis MakeAxis(double min, double max, double from, double to,
              double min_tick = 0) {
  if (min > max) {
    min = 0;
    max = 1;
  }
  if (min == max) {
    const double pad = min != 0 ? std::abs(min) * 0.1 : 1;
    min = min >= 0 && min - pad < 0 ? 0 : min - pad;
    max += pad;
  }
  Axis axis;
  axis.tick = std::max(NiceTick(max - min), min_tick);
  axis.lo = std::floor(min / axis.tick) * axis.tick;
  axis.hi = std::ceil(max / axis.tick) * axis.tick;
  axis.from = from;
  axis.to = to;
  return axis;
}

// A pixel coordinate.
std::string Px(double pixel) { return absl::StrFormat("%.1f", pixel); }

bool Drawn(const Series& series, const std::vector<EvalRow>& rows) {
  return series.always ||
         std::any_of(rows.begin(), rows.end(), [&](const EvalRow& row) {
           const double value = row.*series.value;
           return std::isfinite(value) && value != 0;
         });
}

// The left axis spans the finite values of the drawn left-axis series.
Axis LeftAxis(const std::vector<const Series*>& drawn,
              const std::vector<EvalRow>& rows) {
  double min = 1, max = 0;  // empty
  for (const Series* series : drawn) {
    if (series->right_axis) continue;
    for (const EvalRow& row : rows) {
      const double value = row.*series->value;
      if (!std::isfinite(value)) continue;
      if (min > max) min = max = value;
      min = std::min(min, value);
      max = std::max(max, value);
    }
  }
  return MakeAxis(min, max, kPlotBottom, kPlotTop);
}

Axis StepAxis(const std::vector<EvalRow>& rows) {
  double min = 0, max = 0;
  for (const EvalRow& row : rows) {
    min = std::min<double>(min, row.step);
    max = std::max<double>(max, row.step);
  }
  return MakeAxis(min, max, kPlotLeft, kPlotRight, /*min_tick=*/1);
}

// "12 evaluations, last at step 2813 (epoch 3.00, 6.1 s): train loss
// 0.4502, ..."
std::string Caption(const std::vector<const Series*>& drawn,
                    const std::vector<EvalRow>& rows) {
  if (rows.empty()) return "no evaluations yet";
  const EvalRow& last = rows.back();
  std::string text = absl::StrFormat(
      "%d evaluation%s, last at step %d (epoch %.2f, %.1f s)", rows.size(),
      rows.size() == 1 ? "" : "s", last.step, last.epoch, last.wall_seconds);
  const char* separator = ": ";
  for (const Series* series : drawn) {
    absl::StrAppendFormat(&text, "%s%s %.4g", separator, series->label,
                          last.*series->value);
    separator = ", ";
  }
  return text;
}

// The ticks and labels of a vertical axis: the left one with grid lines
// across the plot, or the right one.
void AppendValueAxis(const Axis& axis, bool left, std::string* svg) {
  const char* label_class = left ? "tick-left" : "tick-right";
  const double edge = left ? kPlotLeft : kPlotRight;
  const double outward = left ? -5 : 5;
  for (long k = std::lround(axis.lo / axis.tick);
       k <= std::lround(axis.hi / axis.tick); ++k) {
    const double value = k * axis.tick;
    const std::string y = Px(axis.Map(value));
    if (left) {
      absl::StrAppend(svg, "<line x1=\"", Px(kPlotLeft), "\" y1=\"", y,
                      "\" x2=\"", Px(kPlotRight), "\" y2=\"", y,
                      "\" stroke=\"#e4e4e4\"/>\n");
    }
    absl::StrAppend(svg, "<line x1=\"", Px(edge), "\" y1=\"", y, "\" x2=\"",
                    Px(edge + outward), "\" y2=\"", y, "\" stroke=\"#333\"/>\n",
                    "<text class=\"", label_class, "\" x=\"",
                    Px(edge + 1.6 * outward), "\" y=\"", y,
                    "\" dy=\"0.35em\" text-anchor=\"", left ? "end" : "start",
                    "\">", axis.Label(value), "</text>\n");
  }
}

// The step axis along the bottom, with vertical grid lines.
void AppendStepAxis(const Axis& axis, std::string* svg) {
  for (long k = std::lround(axis.lo / axis.tick);
       k <= std::lround(axis.hi / axis.tick); ++k) {
    const double value = k * axis.tick;
    const std::string x = Px(axis.Map(value));
    absl::StrAppend(
        svg, "<line x1=\"", x, "\" y1=\"", Px(kPlotTop), "\" x2=\"", x,
        "\" y2=\"", Px(kPlotBottom), "\" stroke=\"#e4e4e4\"/>\n", "<line x1=\"",
        x, "\" y1=\"", Px(kPlotBottom), "\" x2=\"", x, "\" y2=\"",
        Px(kPlotBottom + 5), "\" stroke=\"#333\"/>\n",
        "<text class=\"tick-x\" x=\"", x, "\" y=\"", Px(kPlotBottom + 18),
        "\" text-anchor=\"middle\">", axis.Label(value), "</text>\n");
  }
}

// The top axis: the wall time of evaluations at their steps, from the last
// one back, skipping those too close to the one labelled after them.
void AppendWallTimeAxis(const Axis& steps, const std::vector<EvalRow>& rows,
                        std::string* svg) {
  constexpr double kMinGap = 70;  // pixels between labels
  double next_x = kPlotRight + kMinGap;
  for (auto row = rows.rbegin(); row != rows.rend(); ++row) {
    const double x = steps.Map(row->step);
    if (!std::isfinite(row->wall_seconds) || x > next_x - kMinGap) continue;
    next_x = x;
    absl::StrAppend(svg, "<line x1=\"", Px(x), "\" y1=\"", Px(kPlotTop),
                    "\" x2=\"", Px(x), "\" y2=\"", Px(kPlotTop - 5),
                    "\" stroke=\"#333\"/>\n", "<text class=\"tick-top\" x=\"",
                    Px(x), "\" y=\"", Px(kPlotTop - 8),
                    "\" text-anchor=\"middle\">",
                    absl::StrFormat("%.*f", row->wall_seconds < 100 ? 1 : 0,
                                    row->wall_seconds),
                    "</text>\n");
  }
}

// One series' polyline and, if few enough, a circle on each point.
void AppendSeries(const Series& series, const std::vector<EvalRow>& rows,
                  const Axis& steps, const Axis& values, std::string* svg) {
  std::vector<std::pair<std::string, std::string>> points;
  for (const EvalRow& row : rows) {
    const double value = row.*series.value;
    if (!std::isfinite(value)) continue;
    points.emplace_back(Px(steps.Map(row.step)), Px(values.Map(value)));
  }
  std::string list;
  for (const auto& [x, y] : points) {
    absl::StrAppend(&list, list.empty() ? "" : " ", x, ",", y);
  }
  absl::StrAppendFormat(
      svg,
      "<polyline id=\"%s\" class=\"series\" fill=\"none\" stroke=\"%s\" "
      "stroke-width=\"2\" stroke-linejoin=\"round\"%s points=\"%s\">"
      "<title>%s</title></polyline>\n",
      series.id, series.color,
      series.right_axis ? " stroke-dasharray=\"6 3\"" : "", list, series.label);
  if (points.size() > static_cast<size_t>(kMaxMarkers)) return;
  absl::StrAppendFormat(svg, "<g id=\"%s_markers\" fill=\"%s\">", series.id,
                        series.color);
  for (const auto& [x, y] : points) {
    absl::StrAppend(svg, "<circle cx=\"", x, "\" cy=\"", y, "\" r=\"3\"/>");
  }
  absl::StrAppend(svg, "</g>\n");
}

// A line sample and the label of each series, left to right under the plot.
void AppendLegend(const std::vector<const Series*>& drawn, std::string* svg) {
  const double y = kHeight - 18;
  double x = kPlotLeft;
  for (const Series* series : drawn) {
    const std::string label =
        absl::StrCat(series->label, series->right_axis ? " (right)" : "");
    absl::StrAppend(svg, "<line x1=\"", Px(x), "\" y1=\"", Px(y - 4),
                    "\" x2=\"", Px(x + 24), "\" y2=\"", Px(y - 4),
                    "\" stroke=\"", series->color, "\" stroke-width=\"2\"",
                    series->right_axis ? " stroke-dasharray=\"6 3\"" : "",
                    "/>\n<text x=\"", Px(x + 30), "\" y=\"", Px(y), "\">",
                    label, "</text>\n");
    x += 30 + 7.0 * label.size() + 24;
  }
}

// An axis title; `rotate` turns it to read upwards, centred on (x, y).
void AppendTitle(double x, double y, bool rotate, const std::string& text,
                 std::string* svg) {
  absl::StrAppend(svg, "<text text-anchor=\"middle\" ",
                  rotate ? absl::StrCat("transform=\"translate(", Px(x), ",",
                                        Px(y), ") rotate(-90)\"")
                         : absl::StrCat("x=\"", Px(x), "\" y=\"", Px(y), "\""),
                  ">", text, "</text>\n");
}

// "loss, test RMSE", "test accuracy": what one side's axis measures.
std::string AxisTitle(const std::vector<const Series*>& drawn, bool right) {
  std::string title = right ? "" : "loss";
  for (const Series* series : drawn) {
    if (series->right_axis != right || series->always) continue;
    absl::StrAppend(&title, title.empty() ? "" : ", ", series->label);
  }
  return title;
}

// The plot's frame and the axes' titles.
void AppendFrame(const std::vector<const Series*>& drawn, bool right,
                 std::string* svg) {
  absl::StrAppend(svg, "<rect x=\"", Px(kPlotLeft), "\" y=\"", Px(kPlotTop),
                  "\" width=\"", Px(kPlotRight - kPlotLeft), "\" height=\"",
                  Px(kPlotBottom - kPlotTop),
                  "\" fill=\"none\" stroke=\"#333\"/>\n");
  const double middle_x = (kPlotLeft + kPlotRight) / 2;
  const double middle_y = (kPlotTop + kPlotBottom) / 2;
  AppendTitle(middle_x, kPlotBottom + 38, false, "step", svg);
  AppendTitle(middle_x, kPlotTop - 30, false, "wall time (s)", svg);
  AppendTitle(22, middle_y, true, AxisTitle(drawn, false), svg);
  if (right) {
    AppendTitle(kWidth - 22, middle_y, true, AxisTitle(drawn, true), svg);
  }
}

}  // namespace

std::string RenderEvalChart(const std::vector<EvalRow>& rows) {
  std::vector<const Series*> drawn;
  for (const Series& series : kSeries) {
    if (Drawn(series, rows)) drawn.push_back(&series);
  }
  const bool right = std::any_of(drawn.begin(), drawn.end(),
                                 [](const Series* s) { return s->right_axis; });
  const Axis steps = StepAxis(rows);
  const Axis left = LeftAxis(drawn, rows);
  const Axis unit{0, 1, 0.2, kPlotBottom, kPlotTop};

  std::string svg = absl::StrFormat(
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
      "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" "
      "width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
      "font-family=\"sans-serif\" font-size=\"12\">\n"
      "<title>descent evaluations</title>\n"
      "<rect width=\"%d\" height=\"%d\" fill=\"white\"/>\n",
      kWidth, kHeight, kWidth, kHeight, kWidth, kHeight);
  absl::StrAppend(&svg,
                  "<text id=\"caption\" x=\"20\" y=\"24\" font-size=\"13\">",
                  Caption(drawn, rows), "</text>\n");
  AppendStepAxis(steps, &svg);
  AppendValueAxis(left, /*left=*/true, &svg);
  if (right) AppendValueAxis(unit, /*left=*/false, &svg);
  AppendWallTimeAxis(steps, rows, &svg);
  AppendFrame(drawn, right, &svg);
  for (const Series* series : drawn) {
    AppendSeries(*series, rows, steps, series->right_axis ? unit : left, &svg);
  }
  AppendLegend(drawn, &svg);
  absl::StrAppend(&svg, "</svg>\n");
  return svg;
}

}  // namespace descent
