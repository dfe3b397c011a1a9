import numpy as np

from facelens.geometry.au import AU_NAMES, BLENDSHAPE_AUS, GEOMETRIC_NAMES, action_units, geometric_action_units
from facelens.geometry.pose import head_pose
from facelens.models.blendshapes import BLENDSHAPE_NAMES, Blendshapes, blendshape_index


def geometric(analyse, name):
    rgb, _, mesh = analyse(name)
    R, T = head_pose(mesh[:1], rgb.shape[1::-1])
    return dict(zip(GEOMETRIC_NAMES, geometric_action_units(mesh[:1], R, T)[0]))


def test_names_and_shape(analyse):
    rgb, _, mesh = analyse("expression/neutral.jpg")
    R, T = head_pose(mesh, rgb.shape[1::-1])
    A = action_units(Blendshapes()(mesh), mesh, R, T)
    assert A.shape == (len(mesh), len(AU_NAMES)) and A.dtype == np.float32
    assert all(n.startswith("AU") and len(n) == 4 for n in AU_NAMES) and len(set(AU_NAMES)) == len(AU_NAMES)
    assert "AU14" in AU_NAMES and set(AU_NAMES) == set(BLENDSHAPE_AUS) | {"AU23", "AU25"}
    assert all(b in BLENDSHAPE_NAMES for names in BLENDSHAPE_AUS.values() for b in names)
    assert ((A >= 0) & (A <= 5)).all()
    A2 = geometric_action_units(np.repeat(mesh[:1], 2, 0), np.r_[R[:1], [[np.nan] * 3]])
    assert np.isfinite(A2[0]).all() and np.isnan(A2[1]).all()


def test_learned_aus_follow_the_mapping_table(analyse):
    rgb, _, mesh = analyse("expression/happy.jpg")
    R, T = head_pose(mesh, rgb.shape[1::-1])
    shapes = np.zeros((1, 52), np.float32)
    shapes[0, blendshape_index("mouthSmileLeft")], shapes[0, blendshape_index("mouthSmileRight")] = 0.8, 0.6
    shapes[0, blendshape_index("jawOpen")] = 0.2
    A = dict(zip(AU_NAMES, action_units(shapes, mesh[:1], R[:1], T[:1])[0]))
    assert np.isclose(A["AU12"], 3.5) and np.isclose(A["AU26"], 1.0) and A["AU04"] == 0.0
    geo = geometric(analyse, "expression/happy.jpg")
    assert A["AU25"] == geo["AU25"] and A["AU23"] == geo["AU23"]  # the geometric ones are kept


def test_geometric_happy_smiles_more_than_neutral(analyse):
    happy, neutral = geometric(analyse, "expression/happy.jpg"), geometric(analyse, "expression/neutral.jpg")
    assert happy["AU12"] > neutral["AU12"] + 1.0, (happy["AU12"], neutral["AU12"])
    assert happy["AU06"] > neutral["AU06"]
    assert happy["AU25"] > neutral["AU25"]  # teeth showing


def test_geometric_surprised_raises_brows_and_drops_jaw(analyse):
    surprised, neutral = geometric(analyse, "expression/surprised.jpg"), geometric(analyse, "expression/neutral.jpg")
    for au in ("AU01", "AU02", "AU05", "AU26"):
        assert surprised[au] > neutral[au], (au, surprised[au], neutral[au])
    assert surprised["AU26"] > neutral["AU26"] + 2.0
    assert surprised["AU12"] < 1.0
