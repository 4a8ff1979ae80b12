// evals.svg: a job's evaluations, the rows of evals.csv, drawn as one chart
// that any browser shows, for people who look rather than read.
//
// Against the global step (bottom axis, from 0; the top axis marks the wall
// time of some of the evaluations) it draws
//   left axis    train_loss, test_loss, and test_rmse (regression);
//   right axis   test_accuracy and test_auc (sparse binary classifiers), 0..1.
// train_loss and test_loss are always drawn; the other three only if some
// row holds a finite non-zero value, since jobs leave the columns that do
// not apply to them at 0 (regression jobs leave accuracy 0, dense ones AUC).
//
// The SVG is stable for tools as well as eyes:
//   - each series is one <polyline> whose id is its evals.csv column
//     ("train_loss", ...), one point per row in row order, except that a row
//     whose value is NaN or infinite has no point (and does not stretch the
//     axis); with at most kMaxMarkers points each point also gets a circle,
//     so that a single evaluation shows;
//   - each tick label is a <text> of class "tick-x", "tick-left",
//     "tick-right" or "tick-top" placed exactly at its tick (x for the
//     horizontal axes, y for the vertical ones; dy shifts the glyphs), so the
//     axes' scales can be read back from the file itself.
//
// Pure function of its input; thread-safe.
#ifndef DESCENT_SERVER_COORDINATOR_EVAL_CHART_H_
#define DESCENT_SERVER_COORDINATOR_EVAL_CHART_H_

#include <cstdint>
#include <string>
#include <vector>

namespace descent {

// One evaluation: a row of evals.csv, the same columns.
struct EvalRow {
  int64_t step = 0;
  double epoch = 0;
  double wall_seconds = 0;
  double train_loss = 0;
  double test_loss = 0;
  double test_accuracy = 0;
  double test_rmse = 0;
  double test_auc = 0;
};

// Series with more points than this are drawn as lines only.
inline constexpr int kMaxMarkers = 100;

// The chart of `rows`, in evals.csv's order, as a standalone SVG 1.1
// document. Any number of rows, none included (then it says so).
std::string RenderEvalChart(const std::vector<EvalRow>& rows);

}  // namespace descent

#endif  // DESCENT_SERVER_COORDINATOR_EVAL_CHART_H_
