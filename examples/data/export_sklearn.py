"""Writes diabetes.csv and wine.csv from the copies that scikit-learn ships (no download).

    python export_sklearn.py   # in examples/data/, with scikit-learn installed

diabetes.csv: load_diabetes(scaled=False), the raw measurements (age in years, sex as 1 or 2,
BMI, ...) rather than scikit-learn's default mean-centred, unit-norm columns; target last.
wine.csv: load_wine(), 13 measurements and the cultivar as a class 0, 1 or 2, last.
Numbers are written with up to 15 significant digits, which reproduces every value exactly.
"""
import hashlib

import sklearn
from sklearn.datasets import load_diabetes, load_wine


def number(v):
    return format(float(v), ".15g")


def write(path, names, rows):
    with open(path, "w", newline="\n") as f:
        f.write(",".join(names) + "\n")
        for row in rows:
            f.write(",".join(row) + "\n")
    with open(path, "rb") as f:
        print(path, hashlib.sha256(f.read()).hexdigest())


diabetes = load_diabetes(scaled=False)
write(
    "diabetes.csv",
    list(diabetes.feature_names) + ["target"],
    ([number(v) for v in x] + [number(y)] for x, y in zip(diabetes.data, diabetes.target)),
)

wine = load_wine()
write(
    "wine.csv",
    list(wine.feature_names) + ["class"],
    ([number(v) for v in x] + [str(int(y))] for x, y in zip(wine.data, wine.target)),
)
print("scikit-learn", sklearn.__version__)
