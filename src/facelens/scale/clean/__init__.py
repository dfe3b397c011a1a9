"""Find what is wrong in a face dataset laid out as one folder per identity, and quarantine it.

`clean_dataset(DATASET, REPORT)` analyses every image with a batch engine (resumably, into
REPORT/faces.parquet; `resume=False` starts over), then finds:

| finding           | rule (defaults in `Thresholds`)                                                         |
|-------------------|------------------------------------------------------------------------------------------|
| unreadable        | the image could not be decoded                                                          |
| no_face           | no face detected, and the whole image, embedded as one face, is not within the same-person distance (0.6) of its folder's centre (tight crops the detector misses pass) |
| multiple_faces    | two or more faces at least `second_face_ratio` (0.6) of the largest face's height        |
| low_quality       | largest face: `Faces.quality` < 0.5, sharpness < 40 (blur), height < 40 px, abs(yaw) > 50 deg or abs(pitch) > 35 deg |
| near_duplicates   | pHash Hamming distance <= 6 of 63 bits AND embedding distance <= 0.4 (pHash alone when an image has no embedding) |
| identity_outliers | distance to the folder centre > max(median + 3 * 1.4826 * MAD, 0.6), in folders with >= 3 usable faces |
| similar_folders   | two folders whose centres are closer than 0.6 (dlib's same-person distance)              |

Sharpness is `geometry.quality.sharpness` (variance of the Laplacian at 112 x 112 grey) over the
face box: the sharp crops of the shared identity set measure 56 and up, the same crops blurred
(Gaussian, sigma 2 px) about 32, sigma 3 px about 12. `Faces.quality` alone does not separate a
blurred large face (0.53 for sigma 3 px) from a sharp profile (0.60).

Embeddings are dlib's 128-D descriptors (Euclidean distances; 0.6 is dlib's documented
same-person threshold), or those of a user-supplied ONNX embedder (`embedder=`, `--embedder`;
`facelens.models.embedder`). The distances above are dlib's; with another embedder
`Thresholds.following(d)` takes its same-person distance d (sqrt(2 - 2 s) for its cosine
threshold s) for the outlier floor and the similar-folder distance, and 0.4 / 0.6 of d for the
near-duplicate embedding distance: dlib's ratio carried over, not a figure measured for that
embedder. The report names the embedder (name, sha256, thresholds); a report folder whose
analysis was made with one embedder refuses another. A folder's centre starts as the coordinate median of its usable faces
(one face, not low quality), then is the mean of those within the outlier threshold. MAD is the
median absolute deviation of the member distances; 1.4826 * MAD estimates their standard
deviation, so k = 3 flags faces three robust standard deviations out; the floor of 0.6 keeps
tight folders (MAD near 0) from flagging their own members.

`quarantine(REPORT)` moves flagged files (keeping the best of each duplicate group within a
folder; of copies across folders at most the one that is an outlier in its folder moves; similar
folders are only reported) into REPORT/quarantine/ and logs each move with its sha256 in
REPORT/quarantine.json; `undo(REPORT)` moves them back byte for byte. Nothing is deleted.

Modules: `hashing` (pHash, near-pair index), `rules` (thresholds and findings), `dataset` (listing,
analysis, `clean_dataset`), `report` (CSV, JSON, HTML) and `quarantine` (moves, log, undo).
"""

from facelens.scale.clean.dataset import clean_dataset, list_dataset
from facelens.scale.clean.hashing import hamming, near_pairs, phash
from facelens.scale.clean.quarantine import QUARANTINE_LOG, CleanError, check_no_quarantine, quarantine, undo
from facelens.scale.clean.rules import FINDINGS, CleanReport, Thresholds, find_problems

__all__ = ["FINDINGS", "QUARANTINE_LOG", "CleanError", "CleanReport", "Thresholds", "check_no_quarantine",
           "clean_dataset", "find_problems", "hamming", "list_dataset", "near_pairs", "phash", "quarantine", "undo"]
