"""Identity tools on the dlib 128-D descriptor: verify, cluster, gallery, consistency reports, packs."""

from facelens.identity.verify import COSINE_THRESHOLD, THRESHOLD, Verification, embed, verify

__all__ = ["COSINE_THRESHOLD", "THRESHOLD", "Verification", "embed", "verify"]
