import numpy as np

from facelens.geometry.au import AU_NAMES, action_units
from facelens.geometry.pose import head_pose


def aus(analyse, name):
    rgb, _, mesh = analyse(name)
    R, T = head_pose(mesh[:1], rgb.shape[1::-1])
    return dict(zip(AU_NAMES, action_units(mesh[:1], R, T)[0]))


def test_names_and_shape(analyse):
    rgb, _, mesh = analyse("expression/neutral.jpg")
    R, T = head_pose(mesh, rgb.shape[1::-1])
    A = action_units(mesh, R, T)
    assert A.shape == (len(mesh), len(AU_NAMES)) and A.dtype == np.float32
    assert all(n.startswith("AU") and len(n) == 4 for n in AU_NAMES) and len(set(AU_NAMES)) == len(AU_NAMES)
    assert ((A >= 0) & (A <= 5)).all()
    A2 = action_units(np.repeat(mesh[:1], 2, 0), np.r_[R[:1], [[np.nan] * 3]])
    assert np.isfinite(A2[0]).all() and np.isnan(A2[1]).all()


def test_happy_smiles_more_than_neutral(analyse):
    happy, neutral = aus(analyse, "expression/happy.jpg"), aus(analyse, "expression/neutral.jpg")
    assert happy["AU12"] > neutral["AU12"] + 1.0, (happy["AU12"], neutral["AU12"])
    assert happy["AU06"] > neutral["AU06"]
    assert happy["AU25"] > neutral["AU25"]  # teeth showing


def test_surprised_raises_brows_and_drops_jaw(analyse):
    surprised, neutral = aus(analyse, "expression/surprised.jpg"), aus(analyse, "expression/neutral.jpg")
    for au in ("AU01", "AU02", "AU05", "AU26"):
        assert surprised[au] > neutral[au], (au, surprised[au], neutral[au])
    assert surprised["AU26"] > neutral["AU26"] + 2.0
    assert surprised["AU12"] < 1.0
