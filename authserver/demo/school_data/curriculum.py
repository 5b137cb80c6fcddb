"""What the demo schools teach: subjects, departments, A-level option blocks, forms, houses."""

# (code, name, national code, weekly lessons in Years 7-9, in Years 10-11)
SECONDARY_SUBJECTS = [
    ("En", "English", "ENG", 4, 4),
    ("Ma", "Mathematics", "MAT", 4, 4),
    ("Sc", "Science", "SCI", 3, 5),
    ("Hi", "History", "HIS", 2, 2),
    ("Gg", "Geography", "GEO", 2, 2),
    ("Fr", "French", "FRE", 2, 3),
    ("Cp", "Computing", "ICT", 1, 1),
    ("Ar", "Art and Design", "ART", 1, 1),
    ("Mu", "Music", "MUS", 1, 0),
    ("Pe", "Physical Education", "PE", 2, 2),
    ("Re", "Religious Education", "RE", 1, 1),
    ("Dt", "Design and Technology", "DT", 1, 0),
    ("Dr", "Drama", "DRA", 1, 0),
]
SIXTH_FORM_ONLY_SUBJECTS = [
    ("Bi", "Biology", "BIO"),
    ("Ch", "Chemistry", "CHE"),
    ("Ph", "Physics", "PHY"),
    ("Ps", "Psychology", "PSY"),
    ("Ec", "Economics", "ECO"),
]
# Secondary teachers belong to a department and may teach any of its subjects.
DEPARTMENTS = {
    "En": "English", "Ma": "Mathematics", "Sc": "Science", "Bi": "Science", "Ch": "Science",
    "Ph": "Science", "Hi": "Humanities", "Gg": "Humanities", "Re": "Humanities", "Ps": "Humanities",
    "Ec": "Humanities", "Fr": "Languages", "Cp": "Computing", "Ar": "Creative arts",
    "Mu": "Creative arts", "Dr": "Creative arts", "Dt": "Technology", "Pe": "Physical education",
}  # fmt: skip
# A-level option blocks: a sixth-former takes one subject from each of three blocks.
OPTION_BLOCKS = [("Ma", "Hi", "Ar"), ("Bi", "En", "Ec"), ("Ch", "Ps", "Fr"), ("Ph", "Gg", "Cp")]

# (code, name, national code, weekly lessons)
PRIMARY_SUBJECTS = [
    ("En", "English", "ENG", 5),
    ("Ma", "Mathematics", "MAT", 5),
    ("Sc", "Science", "SCI", 2),
    ("Tp", "Topic (History and Geography)", "HUM", 2),
    ("Pe", "Physical Education", "PE", 2),
    ("Ar", "Art and Design", "ART", 1),
    ("Mu", "Music", "MUS", 1),
    ("Cp", "Computing", "ICT", 1),
    ("Re", "Religious Education", "RE", 1),
]
PRIMARY_FORM_NAMES = [
    "Oak", "Ash", "Birch", "Elm", "Hazel", "Rowan", "Willow", "Beech", "Cedar", "Maple", "Holly",
    "Larch", "Alder", "Aspen", "Linden", "Poplar", "Juniper", "Spruce", "Sycamore", "Chestnut",
    "Hawthorn",
]  # fmt: skip
HOUSES = ["Brunel", "Darwin", "Franklin", "Seacole"]

SUBJECT_ROOM_TYPES = {
    "Sc": "Laboratory", "Bi": "Laboratory", "Ch": "Laboratory", "Ph": "Laboratory", "Pe": "Sports",
    "Ar": "Art studio", "Mu": "Music room", "Cp": "IT suite", "Dt": "Workshop",
    "Dr": "Drama studio",
}  # fmt: skip
