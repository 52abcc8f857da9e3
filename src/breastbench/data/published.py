"""Published image counts of the public datasets, for planning before a download.

``breastbench plan`` uses these when a dataset's root is not on disk yet, and says so. Counts
are per magnification where the dataset has them.
"""

from __future__ import annotations

# source -> (total images, {magnification: images} or None, where the number comes from)
PUBLISHED: dict[str, tuple[int, dict[int, int] | None, str]] = {
    "breakhis": (
        7909,
        {40: 1995, 100: 2081, 200: 2013, 400: 1820},
        "Spanhol et al., IEEE TBME 2016 (the official listing, ../shared/data/breakhis)",
    ),
    "bach": (400, None, "ICIAR 2018 BACH microscopy training set (100 per class)"),
    "vindr": (20000, None, "VinDr-Mammo, Nguyen et al., Sci. Data 2023 (5,000 exams x 4 views)"),
    "rsna": (54706, None, "RSNA Screening Mammography Breast Cancer Detection, train.csv rows"),
    "cbis-ddsm": (
        10239,
        None,
        "TCIA CBIS-DDSM collection count (upper bound: includes ROI crops and masks)",
    ),
    "inbreast": (410, None, "INbreast, Moreira et al., Acad. Radiol. 2012"),
    "mias": (322, None, "mini-MIAS, Suckling et al. 1994"),
    "bracs": (
        4539,
        None,
        "BRACS RoI set, Brancati et al., Database 2022 (3,657 train / 312 val / 570 test RoIs "
        "from 547 WSIs of 189 patients)",
    ),
    "cmmd": (3728, None, "CMMD on TCIA, Cui et al. 2021 (3,728 mammograms of 1,775 patients)"),
    "embed": (
        3383659,
        None,
        "EMBED, Jeong et al., Radiol. AI 2023 (upper bound: the full set; the open-data release "
        "on AWS is a subset of it)",
    ),
    "busi": (
        780,
        None,
        "BUSI, Al-Dhabyani et al., Data in Brief 2020 (133 normal / 437 benign / 210 malignant)",
    ),
    "breastmnist": (780, None, "BreastMNIST, MedMNIST v2, Yang et al. 2023 (546 / 78 / 156)"),
    "pcam": (
        327680,
        None,
        "PatchCamelyon, Veeling et al., MICCAI 2018 (262,144 train / 32,768 valid / 32,768 test)",
    ),
}


def published_count(source: str, magnification: int | None = None) -> tuple[int, str] | None:
    """(images, citation) for a source (and magnification), or None when unknown."""
    entry = PUBLISHED.get(source)
    if entry is None:
        return None
    total, per_mag, cite = entry
    if magnification is not None and per_mag:
        return per_mag.get(magnification, 0), cite
    return total, cite


# source -> (patients, where the number comes from), where the publication states it
PUBLISHED_PATIENTS: dict[str, tuple[int, str]] = {
    "breakhis": (82, "Spanhol et al., IEEE TBME 2016 (82 patients)"),
    "rsna": (11913, "RSNA Screening Mammography, train.csv patient_id values"),
    "cbis-ddsm": (1566, "TCIA CBIS-DDSM collection (1,566 participants)"),
    "inbreast": (115, "INbreast, Moreira et al., Acad. Radiol. 2012 (115 cases)"),
    "mias": (161, "mini-MIAS, Suckling et al. 1994 (161 patients, both breasts)"),
    "bracs": (189, "BRACS, Brancati et al., Database 2022 (189 patients)"),
    "cmmd": (1775, "CMMD on TCIA, Cui et al. 2021 (1,775 patients)"),
    "busi": (600, "BUSI, Al-Dhabyani et al., Data in Brief 2020 (600 patients)"),
}


def published_patients(source: str) -> tuple[int, str] | None:
    """(patients, citation) for a source whose publication states it, else None."""
    return PUBLISHED_PATIENTS.get(source)
