"""Word lists the synthetic records are drawn from. All invented or generic: no real person's data.

Phone numbers come from Ofcom's ranges reserved for drama (e.g. 0113 496 0000-0999): valid UK numbers
that are never assigned to anyone.
"""


def _listed(text: str, separator: str | None = None) -> tuple[str, ...]:
    return tuple(text.split(separator))


FEMALE_GIVEN = _listed(
    "Olivia Amelia Isla Ava Mia Ivy Lily Isabella Rosie Sophia Grace Freya Willow Florence Emily Ella Poppy Evie "
    "Elsie Charlotte Evelyn Sienna Daisy Phoebe Sofia Alice Harper Matilda Ruby Emilia Maya Millie Eva Layla Chloe "
    "Margaret Susan Patricia Linda Barbara Elizabeth Jennifer Maria Sarah Karen Nancy Lisa Helen Sandra Donna Carol "
    "Ruth Sharon Michelle Laura Kimberly Deborah Jessica Shirley Cynthia Angela Melissa Brenda Amy Anna Rebecca "
    "Virginia Kathleen Pamela Martha Debra Amanda Stephanie Carolyn Christine Marie Janet Catherine Frances Ann "
    "Joyce Diane Alison Gillian Fiona Morag Siobhan Niamh Aoife Bronwen Carys Rhiannon Priya Anjali Aisha Fatima "
    "Zainab Mei Yuki Agnieszka Katarzyna Ewa Ioana Elena Chiara Giulia Ingrid Astrid Leila Amara Ngozi Chipo"
)

MALE_GIVEN = _listed(
    "Oliver George Noah Arthur Muhammad Leo Harry Oscar Archie Henry Theodore Freddie Jack Charlie Theo Alfie Jacob "
    "Thomas Finley Arlo William Lucas Roman Tommy Isaac Teddy Alexander Luca Edward James Joshua Albert Hugo Max "
    "John Robert Michael David Richard Joseph Charles Christopher Daniel Matthew Anthony Mark Donald Steven Paul "
    "Andrew Kenneth Kevin Brian Timothy Ronald Jason Jeffrey Gary Ryan Nicholas Eric Stephen Jonathan Larry Justin "
    "Scott Brandon Benjamin Samuel Gregory Frank Raymond Patrick Alan Ian Colin Graham Neil Stuart Craig Gareth "
    "Rhys Dylan Owain Ciaran Declan Sean Eoin Ravi Sanjay Arjun Imran Tariq Omar Wei Hiroshi Tomasz Piotr Andrei "
    "Marco Luca Giovanni Lars Erik Kwame Chinedu Tendai"
)

FAMILY_NAMES = _listed(
    "Smith Jones Taylor Brown Williams Wilson Johnson Davies Robinson Wright Thompson Evans Walker White Roberts "
    "Green Hall Wood Jackson Clarke Patel Khan Lewis James Phillips Mason Mitchell Rose Davis Rodriguez Cox Alexander "
    "Garden Campbell Johnston Moore Smyth O'Neill Doherty Stewart Quinn Murphy Graham McLaughlin Hamilton Murray "
    "Hughes Robertson Thomson Scott Macdonald Reid Clark Ross Young Watson Paterson Morrison Anderson Kelly Martin "
    "Morgan Griffiths Edwards Owen Price Lloyd Powell Rees Jenkins Morris Harris Lee Harrison Bennett Ward Baker "
    "Turner Parker Cooper Hill Collins Carter Bailey Bell Shaw Chapman Marshall Ellis Knight Simpson Webb Holmes "
    "Fletcher Foster Gray Hunt Kennedy Lawrence Mills Palmer Pearson Richards Saunders Stevens Wells Barker Butler "
    "Dixon Fox Gibson Grant Harvey Hayes Holland Hudson Jordan Lane Lowe Matthews Nicholson Payne Pearce Perry "
    "Porter Reynolds Russell Spencer Stone Tucker Wallace Warren West Whitfield Atkinson Barnes Bradley Burton "
    "Chambers Cole Dawson Ferguson Fisher Francis Gardner Gordon Hart Hawkins Henderson Howard Hussain Jameson "
    "Kaur Singh Ahmed Ali Begum Chowdhury Rahman Akhtar Iqbal Nowak Kowalski Wisniewski Kaminski Lewandowski Rossi "
    "Russo Ferrari Esposito Bianchi Romano Silva Santos Ferreira Pereira Costa Oliveira Nguyen Tran Wong Chen Zhang "
    "Wang Liu Tanaka Suzuki Okafor Adeyemi Mensah Osei Banda Mwangi Kowalczyk Andersson Johansson Larsen Nielsen "
    "Fitzgerald Gallagher Brennan Byrne Donnelly Flanagan Kavanagh Maguire McCarthy O'Brien O'Connor Sullivan "
    "Pritchard Llewellyn Vaughan Bowen Prosser Cartwright Fairbanks Hargreaves Ashworth Brierley Sutcliffe Ainsworth "
    "Blackwood Thornton Whitworth Pemberton Rowbotham Oyelaran Thistlethwaite Featherstonehaugh"
)

TOWNS = _listed(
    "Leeds Sheffield Bradford Harrogate York Wakefield Huddersfield Halifax Doncaster Rotherham Barnsley Otley "
    "Ilkley Keighley Skipton Selby Pontefract Castleford Dewsbury Batley"
)

STREETS = _listed(
    "High Street|Station Road|Church Lane|Park Avenue|Mill Lane|Victoria Road|Queen Street|Green Lane|"
    "Manor Road|Kings Road|The Crescent|Chapel Street|School Lane|Orchard Close|Beech Grove|Willow Way|"
    "Moor Lane|Bridge Street|North Road|Hill Top",
    "|",
)

POSTCODE_AREAS = ("LS", "S", "BD", "HG", "YO", "WF", "HD", "HX", "DN")

# Ofcom drama numbers: the national number without its trunk 0, less the last three digits (000-999).
DRAMA_PHONE_PREFIXES = (
    "1134960",
    "1144960",
    "1164960",
    "1174960",
    "1184960",
    "1214960",
    "1314960",
    "1414960",
    "1514960",
    "1614960",
    "2079460",
    "1914980",
    "2896496",
    "2920180",
)

GP_NAMES = _listed(
    "Dr Priya Nair|Dr James Holt|Dr Sarah Okonjo|Dr Mark Ellison|Dr Fiona Baird|Dr Imran Siddiqui|"
    "Dr Helen Marsh|Dr Tom Gallagher|Dr Anika Shah|Dr Peter Lund",
    "|",
)
GP_PRACTICES = _listed(
    "Riverside Medical Practice|Park Lane Surgery|The Health Centre|Moorside Group Practice|"
    "Hillview Surgery|Canal Side Medical Centre|Oakwood Family Practice|St Mary's Surgery",
    "|",
)

RELATIONSHIPS = ("Spouse", "Partner", "Daughter", "Son", "Sister", "Brother", "Friend", "Parent")

MEDICATIONS = (
    # drug, dose, doses a week, is pain medication
    ("Paracetamol", "1 g", "14", True),
    ("Ibuprofen", "400 mg", "10", True),
    ("Naproxen", "500 mg", "14", True),
    ("Codeine", "30 mg", "7", True),
    ("Amitriptyline", "10 mg", "7", True),
    ("Gabapentin", "300 mg", "21", True),
    ("Pregabalin", "75 mg", "14", True),
    ("Tramadol", "50 mg", "4", True),
    ("Amlodipine", "5 mg", "7", False),
    ("Atorvastatin", "20 mg", "7", False),
    ("Levothyroxine", "50 micrograms", "7", False),
    ("Metformin", "500 mg", "14", False),
    ("Omeprazole", "20 mg", "7", False),
    ("Ramipril", "5 mg", "7", False),
)

OTHER_ALLERGIES = ("Penicillin", "Latex", "Sticking plaster", "Nuts", "Shellfish")

COMPLAINTS = (
    "Burning pain over the outer thigh, worse when standing for long.",
    "Aching low back pain spreading into the buttock, worse in the morning.",
    "Tingling and pain in the hand at night, dropping things.",
    "Sharp pain on the outside of the elbow when gripping.",
    "Pain around the knee after a fall, tender along the inner side.",
    "Headaches starting at the back of the head, several times a week.",
    "Pain and sensitivity around an old surgical scar.",
    "Heel and ankle pain on the first steps in the morning.",
    "Neck and shoulder pain, stiffness after desk work.",
    "Pain along the ribs since shingles, sensitive to clothing.",
)

AGGRAVATING = (
    "Walking and stairs.",
    "Sitting for long periods.",
    "Cold weather.",
    "Lifting and carrying.",
    "Typing and gripping.",
    "Lying on the affected side.",
)

PLAN_NOTES = (
    "Weekly PIT along the affected superficial nerves; review after the course.",
    "PIT as discussed; home stretching programme given.",
    "Start a course of PIT; advised to keep a pain diary.",
    "PIT to the tender nerve points; review pain medication at the next visit.",
)

ACTIVITIES = (
    "Walking the dog",
    "Gardening",
    "Climbing stairs",
    "Sleeping through the night",
    "Typing at work",
    "Carrying shopping",
    "Driving",
    "Playing with grandchildren",
    "Swimming",
    "Cooking",
)

SESSION_NOTES = (
    "",
    "",
    "Tolerated well.",
    "Tolerated well; usual tender points reproduced the pain, all settled after injection.",
    "Slightly less tender than last time.",
    "Patient reports better sleep since the last session.",
    "Brief light-headedness after injection, settled lying down for a few minutes.",
    "Good relief immediately after; advised on aftercare again.",
)

ADDENDA = (
    "Patient phoned: bruise fading, pain 3/10 the next day.",
    "Lot number confirmed against the stock log.",
    "Patient reported mild soreness for two days, now settled.",
)

ADVERSE_NOTES = ("Small bruise at one site", "Sore for a day", "Felt faint, settled lying down", "")

CANCEL_REASONS = (
    "Patient unwell",
    "Patient asked to rearrange",
    "Clinician unavailable",
    "Transport problems",
    "Work commitments",
)

DISCONTINUED_REASONS = (
    "No benefit after four sessions.",
    "Patient moved away.",
    "Patient chose to stop treatment.",
    "Referred on for another treatment.",
)

STAFF_NAMES = (
    ("Alice", "Carter"),
    ("Ben", "Okafor"),
    ("Chloe", "Marsh"),
    ("Dev", "Sharma"),
    ("Erin", "Walsh"),
    ("Femi", "Adeyemi"),
    ("Gwen", "Pritchard"),
    ("Hugo", "Lindqvist"),
    ("Iris", "Campbell"),
    ("Jonah", "Reid"),
    ("Kira", "Novak"),
    ("Liam", "Byrne"),
)

# Which body-map regions and nerve regions go with each condition; others get a random pairing.
CONDITION_AREAS = {
    "low-back-pain": ("trunk_back", ("B-LOW-BACK-L", "B-LOW-BACK-R", "B-BUTTOCK-L", "B-BUTTOCK-R", "B-SACRUM")),
    "carpal-tunnel-syndrome": ("upper_limb", ("F-WRIST-HAND-L", "F-WRIST-HAND-R", "F-FOREARM-L", "F-FOREARM-R")),
    "lateral-epicondylitis-tennis-elbow": ("upper_limb", ("B-ELBOW-L", "B-ELBOW-R", "B-FOREARM-L", "B-FOREARM-R")),
    "osteoarthritis": ("lower_limb", ("F-KNEE-L", "F-KNEE-R", "B-KNEE-L", "B-KNEE-R", "F-LEG-L", "F-LEG-R")),
    "migraine-or-other-headache-disorder": ("head_neck", ("B-HEAD", "B-NECK", "F-HEAD")),
    "iliotibial-band-syndrome": ("lower_limb", ("F-THIGH-L", "F-THIGH-R", "F-KNEE-L", "F-KNEE-R")),
    "post-herpetic-neuralgia": ("trunk_back", ("F-CHEST-L", "F-CHEST-R", "B-MID-BACK-L", "B-MID-BACK-R")),
}
