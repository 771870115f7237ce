"""scikit-learn baselines on the bundled diabetes and wine data, on the splits recorded in
splits.json (made by tapegrad's split helpers; see crates/nn/tests/bundled_data.rs).

    python baselines.py   # in examples/data/, with scikit-learn; writes baselines.json and prints a table

For each seed 0..4: standardise the features with the training part's mean and (population)
standard deviation, fit on the training part only (60% of the rows), and score the validation
and test parts (20% each). The targets are left as they are.
- diabetes: LinearRegression(); MLPRegressor(early_stopping=True, max_iter=5000, random_state=seed)
  (its early stopping holds out 10% of the training part); score R^2.
- wine: LogisticRegression(max_iter=5000); MLPClassifier(early_stopping=True, max_iter=5000,
  random_state=seed); score accuracy.
"""
import json
import platform

import numpy as np
import sklearn
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.metrics import accuracy_score, r2_score
from sklearn.neural_network import MLPClassifier, MLPRegressor

MASK = (1 << 64) - 1


def splitmix64_split(n, validation, test, seed):
    """split_indices as its docs define it, to check the recorded plain splits independently."""
    state = seed

    def next_u64():
        nonlocal state
        state = (state + 0x9E3779B97F4A7C15) & MASK
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
        return z ^ (z >> 31)

    order = list(range(n))
    for i in range(n - 1, 0, -1):
        j = (next_u64() * (i + 1)) >> 64
        order[i], order[j] = order[j], order[i]
    # Rust's f64::round rounds half away from zero; Python's round() would round half to even.
    n_test = int(np.floor(n * test + 0.5))
    n_val = min(int(np.floor(n * validation + 0.5)), n - n_test)
    return {
        "test": sorted(order[:n_test]),
        "validation": sorted(order[n_test : n_test + n_val]),
        "train": sorted(order[n_test + n_val :]),
    }


def load(path):
    with open(path) as f:
        names = f.readline().strip().split(",")
    data = np.loadtxt(path, delimiter=",", skiprows=1)
    return names, data[:, :-1], data[:, -1]


def standardise(x_train, *others):
    mean, std = x_train.mean(axis=0), x_train.std(axis=0)
    std[std == 0] = 1.0
    return [(x - mean) / std for x in (x_train, *others)]


splits = json.load(open("splits.json"))
results = {
    "scikit-learn": sklearn.__version__,
    "numpy": np.__version__,
    "python": platform.python_version(),
    "split": splits["procedure"] + "; fractions 0.6 train / 0.2 validation / 0.2 test",
    "preprocessing": "features standardised with the training part's mean and population standard deviation; targets raw",
}

_, x, y = load("diabetes.csv")
rows = {"LinearRegression": [], "MLPRegressor(early_stopping=True)": []}
for seed, part in splits["diabetes"]["seeds"].items():
    assert part == splitmix64_split(len(y), 0.2, 0.2, int(seed)), f"diabetes seed {seed}: not the documented split"
    tr, va, te = (np.array(part[k]) for k in ("train", "validation", "test"))
    xtr, xva, xte = standardise(x[tr], x[va], x[te])
    for name, model in [
        ("LinearRegression", LinearRegression()),
        ("MLPRegressor(early_stopping=True)", MLPRegressor(early_stopping=True, max_iter=5000, random_state=int(seed))),
    ]:
        model.fit(xtr, y[tr])
        rows[name].append(
            {"seed": int(seed), "validation": r2_score(y[va], model.predict(xva)), "test": r2_score(y[te], model.predict(xte))}
        )
results["diabetes"] = {"metric": "R^2", "models": rows}

_, x, y = load("wine.csv")
y = y.astype(int)
rows = {"LogisticRegression": [], "MLPClassifier(early_stopping=True)": []}
for seed, part in splits["wine"]["seeds"].items():
    tr, va, te = (np.array(part[k]) for k in ("train", "validation", "test"))
    xtr, xva, xte = standardise(x[tr], x[va], x[te])
    for name, model in [
        ("LogisticRegression", LogisticRegression(max_iter=5000)),
        ("MLPClassifier(early_stopping=True)", MLPClassifier(early_stopping=True, max_iter=5000, random_state=int(seed))),
    ]:
        model.fit(xtr, y[tr])
        rows[name].append(
            {
                "seed": int(seed),
                "validation": accuracy_score(y[va], model.predict(xva)),
                "test": accuracy_score(y[te], model.predict(xte)),
            }
        )
results["wine"] = {"metric": "accuracy", "models": rows}

for data in ("diabetes", "wine"):
    for name, runs in results[data]["models"].items():
        test = np.array([r["test"] for r in runs])
        summary = {"mean_test": float(test.mean()), "std_test": float(test.std()), "min_test": float(test.min())}
        results[data].setdefault("summary", {})[name] = summary
        per_seed = " ".join(f"{t:.4f}" for t in test)
        print(f"{data:9} {name:36} test {results[data]['metric']}: {per_seed}  mean {test.mean():.4f} sd {test.std():.4f}")

with open("baselines.json", "w") as f:
    json.dump(results, f, indent=2)
    f.write("\n")
