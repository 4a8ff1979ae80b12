#include "server/coordinator/eval_chart.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace descent {
namespace {

// The canvas: the caption and the top (wall time) axis above the panels;
// the step axis, its title and the legend below them.
constexpr int kWidth = 900;
constexpr double kPlotLeft = 80;
constexpr double kPlotRight = 820;
constexpr double kPlotTop = 80;
constexpr double kPanelGap = 34;
constexpr double kBelowPanels = 90;
// The panels' total height, gaps excluded.
constexpr double kPanelsHeight = 350;

// Each kind of figure has a panel of its own, with its own vertical axis
// (tick labels of class "tick-" + id), so that none is flattened by
// another's scale: losses (MSE of thousands beside an RMSE of tens would
// be), RMSE, and the scores in [0, 1].
enum Panel { kLossPanel, kRmsePanel, kScorePanel, kPanels };
constexpr const char* kPanelIds[kPanels] = {"loss", "rmse", "score"};
constexpr const char* kPanelTitles[kPanels] = {"loss", "RMSE", "accuracy, AUC"};

struct Series {
  const char* id;     // its evals.csv column
  const char* label;  // in the legend
  double EvalRow::*value;
  Panel panel;
  bool always;  // drawn even when no row holds a value
  bool dashed;  // validation series
  const char* color;
};

constexpr Series kSeries[] = {
    {"train_loss", "train loss", &EvalRow::train_loss, kLossPanel, true, false,
     "#1f77b4"},
    {"test_loss", "test loss", &EvalRow::test_loss, kLossPanel, false, false,
     "#ff7f0e"},
    {"validation_loss", "validation loss", &EvalRow::validation_loss,
     kLossPanel, false, true, "#8c564b"},
    {"test_rmse", "test RMSE", &EvalRow::test_rmse, kRmsePanel, false, false,
     "#9467bd"},
    {"validation_rmse", "validation RMSE", &EvalRow::validation_rmse,
     kRmsePanel, false, true, "#e377c2"},
    {"test_accuracy", "test accuracy", &EvalRow::test_accuracy, kScorePanel,
     false, false, "#2ca02c"},
    {"validation_accuracy", "validation accuracy",
     &EvalRow::validation_accuracy, kScorePanel, false, true, "#17becf"},
    {"test_auc", "test AUC", &EvalRow::test_auc, kScorePanel, false, false,
     "#d62728"},
    {"validation_auc", "validation AUC", &EvalRow::validation_auc, kScorePanel,
     false, true, "#bcbd22"},
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
           return std::isfinite(row.*series.value);
         });
}

// A panel's vertical axis spans the finite values of its drawn series.
Axis ValueAxis(Panel panel, const std::vector<const Series*>& drawn,
               const std::vector<EvalRow>& rows, double top, double bottom) {
  double min = 1, max = 0;  // empty
  for (const Series* series : drawn) {
    if (series->panel != panel) continue;
    for (const EvalRow& row : rows) {
      const double value = row.*series->value;
      if (!std::isfinite(value)) continue;
      if (min > max) min = max = value;
      min = std::min(min, value);
      max = std::max(max, value);
    }
  }
  return MakeAxis(min, max, bottom, top);
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
    const double value = last.*series->value;
    if (!std::isfinite(value)) continue;
    absl::StrAppendFormat(&text, "%s%s %.4g", separator, series->label, value);
    separator = ", ";
  }
  return text;
}

// A panel's vertical axis: ticks, labels and grid lines across it.
void AppendValueAxis(const Axis& axis, Panel panel, std::string* svg) {
  for (long k = std::lround(axis.lo / axis.tick);
       k <= std::lround(axis.hi / axis.tick); ++k) {
    const double value = k * axis.tick;
    const std::string y = Px(axis.Map(value));
    absl::StrAppend(svg, "<line x1=\"", Px(kPlotLeft), "\" y1=\"", y,
                    "\" x2=\"", Px(kPlotRight), "\" y2=\"", y,
                    "\" stroke=\"#e4e4e4\"/>\n", "<line x1=\"", Px(kPlotLeft),
                    "\" y1=\"", y, "\" x2=\"", Px(kPlotLeft - 5), "\" y2=\"", y,
                    "\" stroke=\"#333\"/>\n", "<text class=\"tick-",
                    kPanelIds[panel], "\" x=\"", Px(kPlotLeft - 8), "\" y=\"",
                    y, "\" dy=\"0.35em\" text-anchor=\"end\">",
                    axis.Label(value), "</text>\n");
  }
}

// Vertical grid lines at the step ticks over a panel from `top` to
// `bottom`; below the last panel also the ticks and their labels.
void AppendStepAxis(const Axis& axis, double top, double bottom, bool labels,
                    std::string* svg) {
  for (long k = std::lround(axis.lo / axis.tick);
       k <= std::lround(axis.hi / axis.tick); ++k) {
    const double value = k * axis.tick;
    const std::string x = Px(axis.Map(value));
    absl::StrAppend(svg, "<line x1=\"", x, "\" y1=\"", Px(top), "\" x2=\"", x,
                    "\" y2=\"", Px(bottom), "\" stroke=\"#e4e4e4\"/>\n");
    if (!labels) continue;
    absl::StrAppend(svg, "<line x1=\"", x, "\" y1=\"", Px(bottom), "\" x2=\"",
                    x, "\" y2=\"", Px(bottom + 5), "\" stroke=\"#333\"/>\n",
                    "<text class=\"tick-x\" x=\"", x, "\" y=\"",
                    Px(bottom + 18), "\" text-anchor=\"middle\">",
                    axis.Label(value), "</text>\n");
  }
}

// The next of 1, 2, 5 times a power of ten after `tick`.
double NextNiceTick(double tick) {
  const double magnitude = std::pow(10, std::floor(std::log10(tick) + 1e-9));
  const double norm = tick / magnitude;
  return (norm < 1.5 ? 2 : norm < 3.5 ? 5 : 10) * magnitude;
}

// The step the job had reached `wall` seconds in, interpolated between the
// evaluations around it (wall times do not decrease along the rows).
double StepAt(const std::vector<const EvalRow*>& timed, double wall) {
  for (size_t i = 0; i + 1 < timed.size(); ++i) {
    const EvalRow& a = *timed[i];
    const EvalRow& b = *timed[i + 1];
    if (wall > b.wall_seconds) continue;
    if (b.wall_seconds <= a.wall_seconds) return a.step;
    return a.step + (wall - a.wall_seconds) /
                        (b.wall_seconds - a.wall_seconds) * (b.step - a.step);
  }
  return timed.back()->step;
}

// The top axis: the wall time at nice ticks (1, 2 or 5 times a power of
// ten, labelled to that tick's precision, so no two labels read alike),
// each at the step the job had reached by then; the ticks grow until
// neighbours are kMinGap pixels apart. One evaluation: its own time.
void AppendWallTimeAxis(const Axis& steps, const std::vector<EvalRow>& rows,
                        std::string* svg) {
  constexpr double kMinGap = 60;
  std::vector<const EvalRow*> timed;
  for (const EvalRow& row : rows) {
    if (!std::isfinite(row.wall_seconds)) continue;
    if (!timed.empty() && row.wall_seconds < timed.back()->wall_seconds) {
      continue;  // out of order: not on a monotone time axis
    }
    timed.push_back(&row);
  }
  if (timed.empty()) return;
  const double lo = timed.front()->wall_seconds;
  const double hi = timed.back()->wall_seconds;
  std::vector<std::pair<double, double>> ticks;  // x, seconds
  Axis time;
  if (hi > lo) {
    time.tick = NiceTick(hi - lo);
    for (int tries = 0; tries < 20;
         ++tries, time.tick = NextNiceTick(time.tick)) {
      ticks.clear();
      bool crowded = false;
      for (long k = std::lround(std::ceil(lo / time.tick - 1e-9));
           k * time.tick <= hi * (1 + 1e-12); ++k) {
        const double x = steps.Map(StepAt(timed, k * time.tick));
        crowded =
            crowded || (!ticks.empty() && x - ticks.back().first < kMinGap);
        ticks.emplace_back(x, k * time.tick);
      }
      if (!crowded) break;
    }
  }
  if (ticks.size() < 2) {
    // One evaluation, or all at one time: label the last one's time.
    time.tick = hi >= 100 ? 1 : 0.1;
    ticks = {{steps.Map(timed.back()->step), hi}};
  }
  for (const auto& [x, seconds] : ticks) {
    absl::StrAppend(
        svg, "<line x1=\"", Px(x), "\" y1=\"", Px(kPlotTop), "\" x2=\"", Px(x),
        "\" y2=\"", Px(kPlotTop - 5), "\" stroke=\"#333\"/>\n",
        "<text class=\"tick-top\" x=\"", Px(x), "\" y=\"", Px(kPlotTop - 8),
        "\" text-anchor=\"middle\">", time.Label(seconds), "</text>\n");
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
      series.id, series.color, series.dashed ? " stroke-dasharray=\"6 3\"" : "",
      list, series.label);
  if (points.size() > static_cast<size_t>(kMaxMarkers)) return;
  absl::StrAppendFormat(svg, "<g id=\"%s_markers\" fill=\"%s\">", series.id,
                        series.color);
  for (const auto& [x, y] : points) {
    absl::StrAppend(svg, "<circle cx=\"", x, "\" cy=\"", y, "\" r=\"3\"/>");
  }
  absl::StrAppend(svg, "</g>\n");
}

// A line sample and the label of each series, left to right from `y`,
// wrapping at the right edge.
void AppendLegend(const std::vector<const Series*>& drawn, double y,
                  std::string* svg) {
  double x = kPlotLeft;
  for (const Series* series : drawn) {
    const std::string label = series->label;
    const double width = 30 + 7.0 * label.size() + 24;
    if (x > kPlotLeft && x + width > kWidth) {
      x = kPlotLeft;
      y += 16;
    }
    absl::StrAppend(svg, "<line x1=\"", Px(x), "\" y1=\"", Px(y - 4),
                    "\" x2=\"", Px(x + 24), "\" y2=\"", Px(y - 4),
                    "\" stroke=\"", series->color, "\" stroke-width=\"2\"",
                    series->dashed ? " stroke-dasharray=\"6 3\"" : "",
                    "/>\n<text x=\"", Px(x + 30), "\" y=\"", Px(y), "\">",
                    label, "</text>\n");
    x += width;
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

// A panel's frame and the title of its axis.
void AppendFrame(Panel panel, double top, double bottom, std::string* svg) {
  absl::StrAppend(svg, "<rect x=\"", Px(kPlotLeft), "\" y=\"", Px(top),
                  "\" width=\"", Px(kPlotRight - kPlotLeft), "\" height=\"",
                  Px(bottom - top), "\" fill=\"none\" stroke=\"#333\"/>\n");
  AppendTitle(22, (top + bottom) / 2, true, kPanelTitles[panel], svg);
}

}  // namespace

std::string RenderEvalChart(const std::vector<EvalRow>& rows) {
  std::vector<const Series*> drawn;
  bool panel_drawn[kPanels] = {true, false, false};  // losses always
  for (const Series& series : kSeries) {
    if (!Drawn(series, rows)) continue;
    drawn.push_back(&series);
    panel_drawn[series.panel] = true;
  }
  std::vector<Panel> panels;
  for (int p = 0; p < kPanels; ++p) {
    if (panel_drawn[p]) panels.push_back(static_cast<Panel>(p));
  }
  const int n = static_cast<int>(panels.size());
  const double panel_height = n == 1 ? kPanelsHeight : n == 2 ? 200 : 160;
  const double panels_bottom =
      kPlotTop + n * panel_height + (n - 1) * kPanelGap;
  const int height = static_cast<int>(panels_bottom + kBelowPanels);
  const Axis steps = StepAxis(rows);

  std::string svg = absl::StrFormat(
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
      "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" "
      "width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
      "font-family=\"sans-serif\" font-size=\"12\">\n"
      "<title>descent evaluations</title>\n"
      "<rect width=\"%d\" height=\"%d\" fill=\"white\"/>\n",
      kWidth, height, kWidth, height, kWidth, height);
  absl::StrAppend(&svg,
                  "<text id=\"caption\" x=\"20\" y=\"24\" font-size=\"13\">",
                  Caption(drawn, rows), "</text>\n");
  AppendWallTimeAxis(steps, rows, &svg);
  AppendTitle((kPlotLeft + kPlotRight) / 2, kPlotTop - 30, false,
              "wall time (s)", &svg);
  for (int i = 0; i < n; ++i) {
    const double top = kPlotTop + i * (panel_height + kPanelGap);
    const double bottom = top + panel_height;
    const Axis values = ValueAxis(panels[i], drawn, rows, top, bottom);
    AppendStepAxis(steps, top, bottom, /*labels=*/i == n - 1, &svg);
    AppendValueAxis(values, panels[i], &svg);
    AppendFrame(panels[i], top, bottom, &svg);
    for (const Series* series : drawn) {
      if (series->panel == panels[i]) {
        AppendSeries(*series, rows, steps, values, &svg);
      }
    }
  }
  AppendTitle((kPlotLeft + kPlotRight) / 2, panels_bottom + 38, false, "step",
              &svg);
  AppendLegend(drawn, panels_bottom + 60, &svg);
  absl::StrAppend(&svg, "</svg>\n");
  return svg;
}

}  // namespace descent
