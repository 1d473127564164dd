"""Facts about the built-in benchmarks' data that the config layer needs without torch or the
data: ETT's channels and rows per month, CelebA's attributes and the paper's nine of them.
:mod:`taskgrouping.config` re-exports them."""

from __future__ import annotations

#: Channels of every ETT file, in column order after ``date``: the ``ett`` benchmark's tasks.
ETT_CHANNELS: tuple[str, ...] = ("HUFL", "HULL", "MUFL", "MULL", "LUFL", "LULL", "OT")

#: Rows per 30-day month of each ETT file (hourly and 15-minute sampling).
ETT_ROWS_PER_MONTH: dict[str, int] = {
    "ETTh1": 30 * 24,
    "ETTh2": 30 * 24,
    "ETTm1": 30 * 24 * 4,
    "ETTm2": 30 * 24 * 4,
}

#: The 40 binary attributes of CelebA, in the column order of ``list_attr_celeba.txt``.
CELEBA_ATTRIBUTES: tuple[str, ...] = (
    "5_o_Clock_Shadow",
    "Arched_Eyebrows",
    "Attractive",
    "Bags_Under_Eyes",
    "Bald",
    "Bangs",
    "Big_Lips",
    "Big_Nose",
    "Black_Hair",
    "Blond_Hair",
    "Blurry",
    "Brown_Hair",
    "Bushy_Eyebrows",
    "Chubby",
    "Double_Chin",
    "Eyeglasses",
    "Goatee",
    "Gray_Hair",
    "Heavy_Makeup",
    "High_Cheekbones",
    "Male",
    "Mouth_Slightly_Open",
    "Mustache",
    "Narrow_Eyes",
    "No_Beard",
    "Oval_Face",
    "Pale_Skin",
    "Pointy_Nose",
    "Receding_Hairline",
    "Rosy_Cheeks",
    "Sideburns",
    "Smiling",
    "Straight_Hair",
    "Wavy_Hair",
    "Wearing_Earrings",
    "Wearing_Hat",
    "Wearing_Lipstick",
    "Wearing_Necklace",
    "Wearing_Necktie",
    "Young",
)

#: The nine attributes of the TAG and paper experiments (the ``celeba`` benchmark's default tasks).
CELEBA_PAPER_TASKS: tuple[str, ...] = (
    "5_o_Clock_Shadow",
    "Black_Hair",
    "Blond_Hair",
    "Brown_Hair",
    "Goatee",
    "Mustache",
    "No_Beard",
    "Rosy_Cheeks",
    "Wearing_Hat",
)
