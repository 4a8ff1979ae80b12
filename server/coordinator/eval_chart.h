// evals.svg: a job's evaluations, the rows of evals.csv, drawn as one chart
// that any browser shows, for people who look rather than read.
//
// Against the global step (bottom axis, from 0; the top axis marks the wall
// time at nice ticks, at the step the job had reached by then) it draws one
// panel per kind of figure, each with a vertical axis of its own, so that
// each is readable whatever the others' magnitudes:
//   loss    train_loss, test_loss, validation_loss (always);
//   RMSE    test_rmse, validation_rmse (regression);
//   score   test_accuracy, test_auc, validation_accuracy, validation_auc.
// train_loss is always drawn; every other series if some row holds a
// finite value (rows lack the figures that do not apply: NaN). Validation
// series are dashed.
//
// The SVG is stable for tools as well as eyes:
//   - each series is one <polyline> whose id is its evals.csv column
//     ("train_loss", ...), one point per row in row order, except that a row
//     whose value is NaN or infinite has no point (and does not stretch the
//     axis); with at most kMaxMarkers points each point also gets a circle,
//     so that a single evaluation shows;
//   - each tick label is a <text> of class "tick-x", "tick-top" or
//     "tick-" + the panel ("tick-loss", "tick-rmse", "tick-score") placed
//     exactly at its tick (x for the horizontal axes, y for the vertical
//     ones; dy shifts the glyphs), so the axes' scales can be read back from
//     the file itself; labels have the decimals their tick step needs, so no
//     two of an axis read alike.
//
// Pure function of its input; thread-safe.
#ifndef DESCENT_SERVER_COORDINATOR_EVAL_CHART_H_
#define DESCENT_SERVER_COORDINATOR_EVAL_CHART_H_

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

namespace descent {

// A figure a row lacks.
inline constexpr double kNoValue = std::numeric_limits<double>::quiet_NaN();

// One evaluation: a row of evals.csv, the same columns (those the chart
// draws); a figure the row lacks (an empty cell) is NaN.
struct EvalRow {
  int64_t step = 0;
  double epoch = 0;
  double wall_seconds = 0;
  double train_loss = 0;
  double test_loss = kNoValue;
  double test_accuracy = kNoValue;
  double test_rmse = kNoValue;
  double test_auc = kNoValue;
  double validation_loss = kNoValue;
  double validation_accuracy = kNoValue;
  double validation_rmse = kNoValue;
  double validation_auc = kNoValue;
};

// Series with more points than this are drawn as lines only.
inline constexpr int kMaxMarkers = 100;

// The chart of `rows`, in evals.csv's order, as a standalone SVG 1.1
// document. Any number of rows, none included (then it says so).
std::string RenderEvalChart(const std::vector<EvalRow>& rows);

}  // namespace descent

#endif  // DESCENT_SERVER_COORDINATOR_EVAL_CHART_H_
