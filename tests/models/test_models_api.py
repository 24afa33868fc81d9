from __future__ import annotations

import subprocess
import sys

import shipyard.models


def test_public_surface_is_sorted_and_complete():
    names = shipyard.models.__all__
    assert names == sorted(names)
    assert set(names) == {
        "ColSpec",
        "EvaluationResult",
        "ModelManifest",
        "ModelSignature",
        "PyFuncModel",
        "PythonModel",
        "PythonModelContext",
        "Signature",
        "TensorSpec",
        "evaluate",
        "infer_signature",
        "load_local_model",
        "load_native",
        "load_prediction_profile",
        "load_reference_profile",
        "read_manifest",
        "save_model",
    }
    for name in names:
        assert getattr(shipyard.models, name) is not None


def test_import_stays_light():
    code = (
        "import sys, shipyard.models; "
        "print(','.join(m for m in ('sklearn', 'pandas', 'scipy', 'pyarrow', 'xgboost', 'lightgbm', "
        "'cloudpickle') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
