// evals.svg: the chart is well-formed XML, and each series' polyline, read
// back through the scales its own tick labels define, gives the rows' steps
// and values, in order; NaN and infinite values have no point; no rows, one
// row and constant series still make a readable chart.
#include "server/coordinator/eval_chart.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <functional>
#include <limits>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace descent {
namespace {

using ::testing::HasSubstr;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

struct Element {
  std::string name;
  std::map<std::string, std::string> attributes;
  std::string text;  // character data directly inside, entities decoded
  std::vector<Element> children;
};

// Just enough of an XML parser to prove a document well-formed (one root;
// tags closed in order; attributes quoted, unique and apart; '<' never in
// text; '&' only as an entity or character reference) and to walk it.
class XmlReader {
 public:
  explicit XmlReader(std::string xml) : xml_(std::move(xml)) {}

  // The root element, or nullopt with error() saying what is malformed.
  std::optional<Element> Document() {
    SkipMisc();
    Element root;
    if (!ReadElement(&root)) return std::nullopt;
    SkipMisc();
    if (pos_ != xml_.size()) {
      Fail("content after the root element");
      return std::nullopt;
    }
    return root;
  }
  const std::string& error() const { return error_; }

 private:
  bool Fail(const std::string& why) {
    error_ = why + " at offset " + std::to_string(pos_);
    return false;
  }
  bool At(const std::string& token) const {
    return xml_.compare(pos_, token.size(), token) == 0;
  }
  bool SkipSpace() {
    const size_t start = pos_;
    while (pos_ < xml_.size() &&
           std::isspace(static_cast<unsigned char>(xml_[pos_]))) {
      ++pos_;
    }
    return pos_ > start;
  }
  // Past `close`, which must follow.
  bool SkipPast(const std::string& close) {
    const size_t end = xml_.find(close, pos_);
    if (end == std::string::npos) return false;
    pos_ = end + close.size();
    return true;
  }
  // Whitespace, the XML declaration, comments.
  void SkipMisc() {
    while (SkipSpace() || (At("<?") && SkipPast("?>")) ||
           (At("<!--") && SkipPast("-->"))) {
    }
  }
  std::string Name() {
    const size_t start = pos_;
    while (pos_ < xml_.size() &&
           (std::isalnum(static_cast<unsigned char>(xml_[pos_])) ||
            std::string("_:.-").find(xml_[pos_]) != std::string::npos)) {
      ++pos_;
    }
    return xml_.substr(start, pos_ - start);
  }
  // Character data up to `end` (not consumed), entities decoded.
  bool Text(char end, std::string* out) {
    static const std::map<std::string, std::string> kEntities = {
        {"amp", "&"}, {"lt", "<"}, {"gt", ">"}, {"quot", "\""}, {"apos", "'"}};
    while (pos_ < xml_.size() && xml_[pos_] != end) {
      if (xml_[pos_] == '<') return Fail("'<' in an attribute");
      if (xml_[pos_] != '&') {
        *out += xml_[pos_++];
        continue;
      }
      const size_t semicolon = xml_.find(';', pos_);
      if (semicolon == std::string::npos) return Fail("bare '&'");
      const std::string entity = xml_.substr(pos_ + 1, semicolon - pos_ - 1);
      if (kEntities.count(entity)) {
        *out += kEntities.at(entity);
      } else if (entity.size() > 1 && entity[0] == '#') {
        *out += '?';  // a character reference; its code point does not matter
      } else {
        return Fail("unknown entity &" + entity + ";");
      }
      pos_ = semicolon + 1;
    }
    return true;
  }
  bool ReadAttributes(Element* element) {
    while (true) {
      const bool spaced = SkipSpace();
      if (At("/>") || At(">")) return true;
      if (!spaced) return Fail("attributes run together");
      const std::string name = Name();
      SkipSpace();
      if (name.empty() || !At("=")) return Fail("bad attribute");
      ++pos_;
      SkipSpace();
      const char quote = pos_ < xml_.size() ? xml_[pos_] : 0;
      if (quote != '"' && quote != '\'') {
        return Fail("unquoted attribute " + name);
      }
      ++pos_;
      std::string value;
      if (!Text(quote, &value)) return false;
      if (pos_ == xml_.size()) return Fail("unterminated value");
      ++pos_;
      if (!element->attributes.emplace(name, value).second) {
        return Fail("duplicate attribute " + name);
      }
    }
  }
  bool ReadElement(Element* element) {
    if (!At("<")) return Fail("expected an element");
    ++pos_;
    element->name = Name();
    if (element->name.empty()) return Fail("nameless element");
    if (!ReadAttributes(element)) return false;
    if (At("/>")) {
      pos_ += 2;
      return true;
    }
    ++pos_;  // '>'
    while (pos_ < xml_.size()) {
      if (At("</")) {
        pos_ += 2;
        if (Name() != element->name) {
          return Fail("</...> does not close <" + element->name + ">");
        }
        SkipSpace();
        if (!At(">")) return Fail("bad end tag");
        ++pos_;
        return true;
      }
      if (At("<!--")) {
        if (!SkipPast("-->")) return Fail("open comment");
      } else if (At("<")) {
        element->children.emplace_back();
        if (!ReadElement(&element->children.back())) return false;
      } else if (!Text('<', &element->text)) {
        return false;
      }
    }
    return Fail("<" + element->name + "> never closed");
  }

  const std::string xml_;
  size_t pos_ = 0;
  std::string error_;
};

// Parses `svg`, failing the test if it is not well-formed.
Element Parse(const std::string& svg) {
  XmlReader reader(svg);
  std::optional<Element> root = reader.Document();
  EXPECT_TRUE(root.has_value()) << reader.error() << "\n" << svg;
  if (!root.has_value()) return {};
  EXPECT_EQ(root->name, "svg");
  EXPECT_EQ(root->attributes["xmlns"], "http://www.w3.org/2000/svg");
  return *root;
}

void Collect(const Element& element,
             const std::function<bool(const Element&)>& wanted,
             std::vector<const Element*>* found) {
  if (wanted(element)) found->push_back(&element);
  for (const Element& child : element.children) {
    Collect(child, wanted, found);
  }
}

std::vector<const Element*> WithAttribute(const Element& root,
                                          const std::string& key,
                                          const std::string& value) {
  std::vector<const Element*> found;
  Collect(
      root,
      [&](const Element& e) {
        auto it = e.attributes.find(key);
        return it != e.attributes.end() && it->second == value;
      },
      &found);
  return found;
}

const Element* ById(const Element& root, const std::string& id) {
  std::vector<const Element*> found = WithAttribute(root, "id", id);
  EXPECT_LE(found.size(), 1u) << "id " << id << " is not unique";
  return found.empty() ? nullptr : found[0];
}

// No coordinate anywhere is NaN or infinite.
void ExpectFiniteCoordinates(const Element& root) {
  std::vector<const Element*> all;
  Collect(
      root, [](const Element&) { return true; }, &all);
  for (const Element* e : all) {
    for (const auto& [key, value] : e->attributes) {
      std::string lower = value;
      std::transform(lower.begin(), lower.end(), lower.begin(), ::tolower);
      EXPECT_EQ(lower.find("nan"), std::string::npos) << key << "=" << value;
      EXPECT_EQ(lower.find("inf"), std::string::npos) << key << "=" << value;
    }
  }
}

std::vector<std::pair<double, double>> Points(const Element& polyline) {
  std::vector<std::pair<double, double>> points;
  std::istringstream in(polyline.attributes.at("points"));
  std::string pair;
  while (in >> pair) {
    const size_t comma = pair.find(',');
    points.emplace_back(std::stod(pair.substr(0, comma)),
                        std::stod(pair.substr(comma + 1)));
  }
  return points;
}

// The map from pixels to values that an axis' tick labels define: each
// label of `label_class` sits at its value's pixel on `coordinate`.
struct Scale {
  double pixel0 = 0, value0 = 0, per_pixel = 0;
  double Value(double pixel) const {
    return value0 + (pixel - pixel0) * per_pixel;
  }
  // Half a pixel, in values: the rounding of a printed coordinate, and then
  // some for the rounding of the ticks the scale was read from.
  double Tolerance() const { return 0.5 * std::abs(per_pixel); }
};

Scale ReadScale(const Element& svg, const std::string& label_class,
                const std::string& coordinate) {
  std::vector<std::pair<double, double>> ticks;  // pixel, value
  for (const Element* label : WithAttribute(svg, "class", label_class)) {
    ticks.emplace_back(std::stod(label->attributes.at(coordinate)),
                       std::stod(label->text));
  }
  if (ticks.size() < 2 || ticks.front().first == ticks.back().first) {
    ADD_FAILURE() << "fewer than two distinct " << label_class << " ticks";
    return {};
  }
  Scale scale;
  scale.pixel0 = ticks.front().first;
  scale.value0 = ticks.front().second;
  scale.per_pixel = (ticks.back().second - ticks.front().second) /
                    (ticks.back().first - ticks.front().first);
  for (const auto& [pixel, value] : ticks) {
    EXPECT_NEAR(scale.Value(pixel), value, scale.Tolerance()) << label_class;
  }
  return scale;
}

// The polyline `id` holds one point per row whose `column` is finite, in row
// order, at (step, value) through the scales.
void ExpectSeries(const Element& svg, const std::string& id,
                  const std::vector<EvalRow>& rows, double EvalRow::*column,
                  const Scale& x, const Scale& y) {
  const Element* line = ById(svg, id);
  ASSERT_NE(line, nullptr) << "no " << id;
  ASSERT_EQ(line->name, "polyline");
  std::vector<const EvalRow*> expected;
  for (const EvalRow& row : rows) {
    if (std::isfinite(row.*column)) expected.push_back(&row);
  }
  const std::vector<std::pair<double, double>> points = Points(*line);
  ASSERT_EQ(points.size(), expected.size()) << id;
  for (size_t i = 0; i < points.size(); ++i) {
    EXPECT_NEAR(x.Value(points[i].first), expected[i]->step, x.Tolerance())
        << id << " point " << i;
    EXPECT_NEAR(y.Value(points[i].second), expected[i]->*column, y.Tolerance())
        << id << " point " << i;
  }
}

// A series a chart should draw: its polyline's id, the column it plots, and
// the axis (its tick labels' class) it is read against.
struct Series {
  const char* id;
  double EvalRow::*column;
  const char* axis;
};

// Each panel's axis: losses, RMSE, and the scores in [0, 1].
const Series kTrainLoss = {"train_loss", &EvalRow::train_loss, "tick-loss"};
const Series kTestLoss = {"test_loss", &EvalRow::test_loss, "tick-loss"};
const Series kTestRmse = {"test_rmse", &EvalRow::test_rmse, "tick-rmse"};
const Series kTestAccuracy = {"test_accuracy", &EvalRow::test_accuracy,
                              "tick-score"};
const Series kTestAuc = {"test_auc", &EvalRow::test_auc, "tick-score"};
const Series kValidationLoss = {"validation_loss", &EvalRow::validation_loss,
                                "tick-loss"};
const Series kValidationAccuracy = {
    "validation_accuracy", &EvalRow::validation_accuracy, "tick-score"};
// What a classifier's chart draws.
const std::vector<Series> kClassifierSeries = {kTrainLoss, kTestLoss,
                                               kTestAccuracy};

// Renders `rows` and checks that each of `series` maps back to them through
// the x scale and its axis' scale (each read once, from the tick labels).
// Returns the chart, for further checks.
Element ExpectChartOf(const std::vector<EvalRow>& rows,
                      const std::vector<Series>& series) {
  Element svg = Parse(RenderEvalChart(rows));
  const Scale x = ReadScale(svg, "tick-x", "x");
  std::map<std::string, Scale> axes;
  for (const Series& s : series) {
    if (!axes.count(s.axis)) axes[s.axis] = ReadScale(svg, s.axis, "y");
    ExpectSeries(svg, s.id, rows, s.column, x, axes[s.axis]);
  }
  return svg;
}

// step, epoch, wall_seconds, train_loss, test_loss, test_accuracy,
// test_rmse, test_auc
std::vector<EvalRow> ClassifierRows() {
  return {{300, 0.32, 0.9, 0.92, 0.81, 0.71, kNaN, kNaN},
          {600, 0.64, 1.7, 0.63, 0.60, 0.78, kNaN, kNaN},
          {900, 0.96, 2.6, 0.55, 0.56, 0.80, kNaN, kNaN},
          {1200, 1.28, 3.4, 0.51, 0.52, 0.82, kNaN, kNaN},
          {1407, 1.50, 4.1, 0.49, 0.50, 0.83, kNaN, kNaN}};
}

TEST(EvalChart, ClassifierSeriesMapBackToTheRows) {
  const std::vector<EvalRow> rows = ClassifierRows();
  const Element svg = ExpectChartOf(rows, kClassifierSeries);
  EXPECT_EQ(ById(svg, "test_rmse"), nullptr);  // none: not this job's
  EXPECT_EQ(ById(svg, "test_auc"), nullptr);
  ASSERT_NE(ById(svg, "test_accuracy_markers"), nullptr);
  EXPECT_EQ(ById(svg, "test_accuracy_markers")->children.size(), rows.size());
  EXPECT_THAT(ById(svg, "caption")->text,
              HasSubstr("5 evaluations, last at step 1407"));
  ExpectFiniteCoordinates(svg);
}

// The vertical pixels the points of polyline `id` span.
double PixelSpan(const Element& svg, const std::string& id) {
  const std::vector<std::pair<double, double>> points = Points(*ById(svg, id));
  double lo = 1e9, hi = -1e9;
  for (const auto& [x, y] : points) {
    lo = std::min(lo, y);
    hi = std::max(hi, y);
  }
  return points.empty() ? 0 : hi - lo;
}

// A regression's test RMSE (about 58) once shared the MSE loss' axis (about
// 3,400) and was flat at 0: each gets an axis it is readable on.
TEST(EvalChart, RegressionDrawsRmseOnItsOwnAxisAndNoAccuracy) {
  const std::vector<EvalRow> rows = {
      {100, 0.5, 0.2, 5200, 4900, kNaN, 70, kNaN},
      {200, 1.0, 0.4, 4100, 3844, kNaN, 62, kNaN},
      {300, 1.5, 0.6, 3500, 3364, kNaN, 58, kNaN}};
  const Element svg = ExpectChartOf(rows, {kTrainLoss, kTestLoss, kTestRmse});
  EXPECT_EQ(ById(svg, "test_accuracy"), nullptr);
  EXPECT_TRUE(WithAttribute(svg, "class", "tick-score").empty());
  EXPECT_GE(PixelSpan(svg, "test_rmse"), 80);  // of a panel ~150 high
  EXPECT_GE(PixelSpan(svg, "test_loss"), 80);
  ExpectFiniteCoordinates(svg);
}

// With validation rows the validation series share the panels of their
// kind; test columns the rows lack are not drawn.
TEST(EvalChart, ValidationSeriesAreDrawnWithTheirKind) {
  std::vector<EvalRow> rows = ClassifierRows();
  for (EvalRow& row : rows) {
    row.validation_loss = row.test_loss + 0.02;
    row.validation_accuracy = row.test_accuracy - 0.01;
    row.test_loss = row.test_accuracy = kNaN;
  }
  const Element svg =
      ExpectChartOf(rows, {kTrainLoss, kValidationLoss, kValidationAccuracy});
  EXPECT_EQ(ById(svg, "test_accuracy"), nullptr);
  EXPECT_EQ(ById(svg, "test_loss"), nullptr);
  EXPECT_GE(PixelSpan(svg, "validation_accuracy"), 60);
}

TEST(EvalChart, SparseClassifierDrawsAucOnTheScoreAxis) {
  const std::vector<EvalRow> rows = {
      {50, 0.1, 1, 0.69, 0.68, 0.60, kNaN, 0.55},
      {100, 0.2, 2, 0.60, 0.61, 0.70, kNaN, 0.71},
      {150, 0.3, 3, 0.52, 0.55, 0.74, kNaN, 0.78}};
  ExpectChartOf(rows, {kTestAccuracy, kTestAuc});
}

TEST(EvalChart, NoRowsIsAnEmptyChart) {
  const Element svg = Parse(RenderEvalChart({}));
  ReadScale(svg, "tick-x", "x");
  ReadScale(svg, "tick-loss", "y");
  EXPECT_TRUE(Points(*ById(svg, "train_loss")).empty());
  EXPECT_EQ(ById(svg, "test_loss"), nullptr);  // no row has one yet
  EXPECT_EQ(ById(svg, "test_accuracy"), nullptr);
  EXPECT_THAT(ById(svg, "caption")->text, HasSubstr("no evaluations"));
  ExpectFiniteCoordinates(svg);
}

TEST(EvalChart, OneRowIsAMarkedPoint) {
  const std::vector<EvalRow> rows = {{0, 0, 0.1, 2.3, 2.3, 0.1, kNaN, kNaN}};
  const Element svg = ExpectChartOf(rows, kClassifierSeries);
  ASSERT_NE(ById(svg, "test_loss_markers"), nullptr);
  EXPECT_EQ(ById(svg, "test_loss_markers")->children.size(), 1u);
  ExpectFiniteCoordinates(svg);
}

TEST(EvalChart, NonFiniteValuesHaveNoPointAndDoNotStretchTheAxis) {
  std::vector<EvalRow> rows = ClassifierRows();
  rows[1].test_loss = kNaN;
  rows[2].train_loss = kInf;
  rows[3].test_accuracy = -kInf;
  const Element svg = ExpectChartOf(rows, kClassifierSeries);
  for (const Element* label : WithAttribute(svg, "class", "tick-loss")) {
    EXPECT_LE(std::stod(label->text), 1.0);  // the finite losses are <= 0.92
  }
  ExpectFiniteCoordinates(svg);
}

TEST(EvalChart, ConstantSeriesStillHaveAScale) {
  for (double loss : {0.0, 0.5, -3.0}) {
    SCOPED_TRACE(loss);
    std::vector<EvalRow> rows = ClassifierRows();
    for (EvalRow& row : rows) row.train_loss = row.test_loss = loss;
    ExpectFiniteCoordinates(ExpectChartOf(rows, {kTrainLoss, kTestLoss}));
  }
}

// The step at `wall` seconds, interpolated between the rows around it.
double StepAtWallTime(const std::vector<EvalRow>& rows, double wall) {
  for (size_t i = 0; i + 1 < rows.size(); ++i) {
    const EvalRow& a = rows[i];
    const EvalRow& b = rows[i + 1];
    if (wall < a.wall_seconds || wall > b.wall_seconds) continue;
    if (b.wall_seconds == a.wall_seconds) return a.step;
    return a.step + (wall - a.wall_seconds) /
                        (b.wall_seconds - a.wall_seconds) * (b.step - a.step);
  }
  ADD_FAILURE() << "wall time " << wall << " outside the rows";
  return 0;
}

// The top axis: wall time at nice, evenly spaced ticks, each label distinct
// (it once read "0.2, 0.2, 0.4") and placed at the step the job had reached
// by then.
void ExpectWallTimeAxis(const std::vector<EvalRow>& rows) {
  const Element svg = Parse(RenderEvalChart(rows));
  const Scale x = ReadScale(svg, "tick-x", "x");
  std::vector<const Element*> labels = WithAttribute(svg, "class", "tick-top");
  ASSERT_GE(labels.size(), 3u);
  std::sort(labels.begin(), labels.end(), [](auto* a, auto* b) {
    return std::stod(a->text) < std::stod(b->text);
  });
  const double tick = std::stod(labels[1]->text) - std::stod(labels[0]->text);
  for (size_t i = 0; i < labels.size(); ++i) {
    const std::string& text = labels[i]->text;
    if (i > 0) {
      EXPECT_NE(text, labels[i - 1]->text);
      EXPECT_NEAR(std::stod(text) - std::stod(labels[i - 1]->text), tick,
                  1e-9 + tick * 1e-6)
          << text;
    }
    const double step = x.Value(std::stod(labels[i]->attributes.at("x")));
    EXPECT_NEAR(step, StepAtWallTime(rows, std::stod(text)), x.Tolerance() + 1)
        << "label " << text;
  }
  // 1, 2 or 5 times a power of ten.
  const double mantissa = tick / std::pow(10, std::floor(std::log10(tick)));
  EXPECT_TRUE(std::abs(mantissa - 1) < 1e-6 || std::abs(mantissa - 2) < 1e-6 ||
              std::abs(mantissa - 5) < 1e-6)
      << "tick " << tick;
}

TEST(EvalChart, TopAxisMarksWallTimeAtNiceDistinctTicks) {
  ExpectWallTimeAxis(ClassifierRows());
  // A short job: evaluations 0.07 s to 0.1 s apart.
  ExpectWallTimeAxis({{20, 0.1, 0.15, 2.0, 1.9, 0.5, kNaN, kNaN},
                      {40, 0.2, 0.21, 1.5, 1.4, 0.6, kNaN, kNaN},
                      {60, 0.3, 0.24, 1.2, 1.1, 0.7, kNaN, kNaN},
                      {80, 0.4, 0.38, 1.0, 0.9, 0.8, kNaN, kNaN},
                      {100, 0.5, 0.45, 0.9, 0.8, 0.85, kNaN, kNaN}});
}

TEST(EvalChart, ManyRowsAreLinesWithoutMarkers) {
  std::vector<EvalRow> rows;
  for (int i = 0; i <= kMaxMarkers; ++i) {
    rows.push_back({10 * i, 0.01 * i, 0.1 * i, 1.0 / (i + 1), 1.0 / (i + 2),
                    0.5 + 0.004 * i, kNaN, kNaN});
  }
  const Element svg = ExpectChartOf(rows, {kTestAccuracy});
  EXPECT_EQ(ById(svg, "test_accuracy_markers"), nullptr);
}

TEST(XmlReader, RefusesMalformedDocuments) {
  for (const char* bad : {"<svg>", "<svg><a></svg>", "<svg a=\"1\" a=\"2\"/>",
                          "<svg a=1/>", "<svg>&</svg>", "<svg>a < b</svg>",
                          "<svg/><svg/>", "<svg a=\"1\"b=\"2\"/>"}) {
    EXPECT_FALSE(XmlReader(bad).Document().has_value()) << bad;
  }
  EXPECT_TRUE(XmlReader("<?xml version=\"1.0\"?>\n<svg a='&lt;'><b/>t</svg>\n")
                  .Document()
                  .has_value());
}

}  // namespace
}  // namespace descent
