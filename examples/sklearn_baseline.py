#!/usr/bin/python3
"""scikit-learn's own LogisticRegression on the split descent uses.

Rebuilds examples/breast_cancer_logistic.textproto's split (every
test_every-th data line held out), standardizes with the training split's
statistics, fits LogisticRegression (C=1, L2, lbfgs) and prints its test
accuracy as `sklearn_test_accuracy: X`.

Run with Debian's python3, which can import python3-sklearn:
  /usr/bin/python3 examples/sklearn_baseline.py [CSV] [TEST_EVERY]
"""
import sys

import numpy as np
from sklearn.linear_model import LogisticRegression

DEFAULT_CSV = "/usr/lib/python3/dist-packages/sklearn/datasets/data/breast_cancer.csv"


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else DEFAULT_CSV
    test_every = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    data = np.loadtxt(path, delimiter=",", skiprows=1)
    x, y = data[:, :-1], data[:, -1].astype(int)
    held_out = np.arange(len(y)) % test_every == test_every - 1
    x_train, y_train = x[~held_out], y[~held_out]
    x_test, y_test = x[held_out], y[held_out]
    mean, std = x_train.mean(axis=0), x_train.std(axis=0)
    std[std == 0] = 1
    model = LogisticRegression(C=1.0, max_iter=10000)
    model.fit((x_train - mean) / std, y_train)
    accuracy = model.score((x_test - mean) / std, y_test)
    print(f"sklearn_train_examples: {len(y_train)}")
    print(f"sklearn_test_examples: {len(y_test)}")
    print(f"sklearn_test_accuracy: {accuracy:.4f}")


if __name__ == "__main__":
    main()
