//! Small fact tables shared by the generators. Each row is a well-established fact; the
//! `plausible_wrong` city is a real, larger or better-known city of the same country, the usual
//! mistaken answer.

pub struct Capital {
    pub country: &'static str,
    pub capital: &'static str,
    pub plausible_wrong: &'static str,
}

pub const CAPITALS: &[Capital] = &[
    Capital { country: "Australia", capital: "Canberra", plausible_wrong: "Sydney" },
    Capital { country: "Canada", capital: "Ottawa", plausible_wrong: "Toronto" },
    Capital { country: "Turkey", capital: "Ankara", plausible_wrong: "Istanbul" },
    Capital { country: "Brazil", capital: "Brasilia", plausible_wrong: "Rio de Janeiro" },
    Capital { country: "Switzerland", capital: "Bern", plausible_wrong: "Zurich" },
    Capital { country: "Morocco", capital: "Rabat", plausible_wrong: "Casablanca" },
    Capital { country: "Nigeria", capital: "Abuja", plausible_wrong: "Lagos" },
    Capital { country: "India", capital: "New Delhi", plausible_wrong: "Mumbai" },
    Capital { country: "New Zealand", capital: "Wellington", plausible_wrong: "Auckland" },
    Capital { country: "Vietnam", capital: "Hanoi", plausible_wrong: "Ho Chi Minh City" },
    Capital { country: "Pakistan", capital: "Islamabad", plausible_wrong: "Karachi" },
    Capital { country: "Tanzania", capital: "Dodoma", plausible_wrong: "Dar es Salaam" },
    Capital { country: "Kazakhstan", capital: "Astana", plausible_wrong: "Almaty" },
    Capital { country: "Ecuador", capital: "Quito", plausible_wrong: "Guayaquil" },
    Capital { country: "Italy", capital: "Rome", plausible_wrong: "Milan" },
    Capital { country: "Spain", capital: "Madrid", plausible_wrong: "Barcelona" },
    Capital { country: "Germany", capital: "Berlin", plausible_wrong: "Munich" },
    Capital { country: "Japan", capital: "Tokyo", plausible_wrong: "Osaka" },
    Capital { country: "China", capital: "Beijing", plausible_wrong: "Shanghai" },
    Capital { country: "Egypt", capital: "Cairo", plausible_wrong: "Alexandria" },
    Capital { country: "Russia", capital: "Moscow", plausible_wrong: "Saint Petersburg" },
    Capital { country: "Poland", capital: "Warsaw", plausible_wrong: "Krakow" },
    Capital { country: "Norway", capital: "Oslo", plausible_wrong: "Bergen" },
    Capital { country: "Ireland", capital: "Dublin", plausible_wrong: "Cork" },
    Capital { country: "Kenya", capital: "Nairobi", plausible_wrong: "Mombasa" },
    Capital { country: "Colombia", capital: "Bogota", plausible_wrong: "Medellin" },
    Capital { country: "Chile", capital: "Santiago", plausible_wrong: "Valparaiso" },
    Capital { country: "France", capital: "Paris", plausible_wrong: "Lyon" },
    Capital { country: "Portugal", capital: "Lisbon", plausible_wrong: "Porto" },
    Capital { country: "Greece", capital: "Athens", plausible_wrong: "Thessaloniki" },
    Capital { country: "Sweden", capital: "Stockholm", plausible_wrong: "Gothenburg" },
    Capital { country: "Argentina", capital: "Buenos Aires", plausible_wrong: "Cordoba" },
    Capital { country: "Peru", capital: "Lima", plausible_wrong: "Cusco" },
    Capital { country: "Mexico", capital: "Mexico City", plausible_wrong: "Guadalajara" },
    Capital { country: "South Korea", capital: "Seoul", plausible_wrong: "Busan" },
    Capital { country: "Austria", capital: "Vienna", plausible_wrong: "Salzburg" },
];

/// (element, chemical symbol, atomic number).
pub const ELEMENTS: &[(&str, &str, u32)] = &[
    ("hydrogen", "H", 1),
    ("helium", "He", 2),
    ("carbon", "C", 6),
    ("nitrogen", "N", 7),
    ("oxygen", "O", 8),
    ("neon", "Ne", 10),
    ("sodium", "Na", 11),
    ("magnesium", "Mg", 12),
    ("aluminium", "Al", 13),
    ("silicon", "Si", 14),
    ("phosphorus", "P", 15),
    ("sulfur", "S", 16),
    ("chlorine", "Cl", 17),
    ("argon", "Ar", 18),
    ("potassium", "K", 19),
    ("calcium", "Ca", 20),
    ("iron", "Fe", 26),
    ("nickel", "Ni", 28),
    ("copper", "Cu", 29),
    ("zinc", "Zn", 30),
    ("silver", "Ag", 47),
    ("tin", "Sn", 50),
    ("gold", "Au", 79),
    ("mercury", "Hg", 80),
    ("lead", "Pb", 82),
    ("uranium", "U", 92),
];

/// (animal, its class).
pub const ANIMAL_CLASSES: &[(&str, &str)] = &[
    ("whale", "mammal"),
    ("bat", "mammal"),
    ("dolphin", "mammal"),
    ("kangaroo", "mammal"),
    ("penguin", "bird"),
    ("ostrich", "bird"),
    ("eagle", "bird"),
    ("owl", "bird"),
    ("crocodile", "reptile"),
    ("snake", "reptile"),
    ("turtle", "reptile"),
    ("lizard", "reptile"),
    ("frog", "amphibian"),
    ("salamander", "amphibian"),
    ("toad", "amphibian"),
    ("shark", "fish"),
    ("salmon", "fish"),
    ("tuna", "fish"),
    ("bee", "insect"),
    ("ant", "insect"),
    ("butterfly", "insect"),
    ("beetle", "insect"),
];

pub const ANIMAL_CLASS_NAMES: &[&str] = &["mammal", "bird", "reptile", "amphibian", "fish", "insect"];

/// Planets in order from the Sun.
pub const PLANETS: &[&str] = &["Mercury", "Venus", "Earth", "Mars", "Jupiter", "Saturn", "Uranus", "Neptune"];

pub const ORDINALS: &[&str] = &["first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth"];

/// (word, its opposite).
pub const OPPOSITES: &[(&str, &str)] = &[
    ("hot", "cold"),
    ("tall", "short"),
    ("early", "late"),
    ("full", "empty"),
    ("heavy", "light"),
    ("ancient", "modern"),
    ("rough", "smooth"),
    ("loud", "quiet"),
    ("wide", "narrow"),
    ("rich", "poor"),
    ("generous", "stingy"),
    ("brave", "cowardly"),
    ("asleep", "awake"),
    ("shallow", "deep"),
    ("victory", "defeat"),
    ("arrive", "depart"),
    ("expand", "contract"),
    ("accept", "refuse"),
];

/// (shape, number of sides).
pub const POLYGONS: &[(&str, u32)] =
    &[("triangle", 3), ("square", 4), ("pentagon", 5), ("hexagon", 6), ("heptagon", 7), ("octagon", 8), ("nonagon", 9), ("decagon", 10)];

/// General-knowledge questions with a correct and a commonly confused answer.
pub struct Trivia {
    pub question: &'static str,
    pub correct: &'static str,
    pub plausible_wrong: &'static str,
    pub subject: &'static str,
}

pub const TRIVIA: &[Trivia] = &[
    Trivia {
        question: "Who wrote Romeo and Juliet?",
        correct: "William Shakespeare",
        plausible_wrong: "Christopher Marlowe",
        subject: "literature",
    },
    Trivia { question: "Who painted the Mona Lisa?", correct: "Leonardo da Vinci", plausible_wrong: "Michelangelo", subject: "art" },
    Trivia {
        question: "What is the largest planet in the Solar System?",
        correct: "Jupiter",
        plausible_wrong: "Saturn",
        subject: "astronomy",
    },
    Trivia { question: "Which planet is known as the Red Planet?", correct: "Mars", plausible_wrong: "Venus", subject: "astronomy" },
    Trivia { question: "Which planet is closest to the Sun?", correct: "Mercury", plausible_wrong: "Venus", subject: "astronomy" },
    Trivia {
        question: "What is the largest ocean on Earth?",
        correct: "Pacific Ocean",
        plausible_wrong: "Atlantic Ocean",
        subject: "geography",
    },
    Trivia {
        question: "What is the tallest mountain above sea level?",
        correct: "Mount Everest",
        plausible_wrong: "K2",
        subject: "geography",
    },
    Trivia {
        question: "Which gas do plants take in from the air for photosynthesis?",
        correct: "carbon dioxide",
        plausible_wrong: "oxygen",
        subject: "biology",
    },
    Trivia { question: "Which organ pumps blood around the body?", correct: "the heart", plausible_wrong: "the liver", subject: "biology" },
    Trivia {
        question: "What is the largest mammal?",
        correct: "the blue whale",
        plausible_wrong: "the African elephant",
        subject: "biology",
    },
    Trivia {
        question: "Who developed the theory of general relativity?",
        correct: "Albert Einstein",
        plausible_wrong: "Isaac Newton",
        subject: "physics",
    },
    Trivia { question: "Who discovered penicillin?", correct: "Alexander Fleming", plausible_wrong: "Louis Pasteur", subject: "medicine" },
    Trivia {
        question: "Who was the first person to walk on the Moon?",
        correct: "Neil Armstrong",
        plausible_wrong: "Buzz Aldrin",
        subject: "history",
    },
    Trivia {
        question: "What is the main language spoken in Brazil?",
        correct: "Portuguese",
        plausible_wrong: "Spanish",
        subject: "geography",
    },
    Trivia { question: "What currency is used in Japan?", correct: "the yen", plausible_wrong: "the won", subject: "economics" },
    Trivia { question: "Which metal is liquid at room temperature?", correct: "mercury", plausible_wrong: "lead", subject: "chemistry" },
    Trivia { question: "What is the hardest natural substance?", correct: "diamond", plausible_wrong: "quartz", subject: "chemistry" },
    Trivia {
        question: "At what temperature in Celsius does water boil at sea level?",
        correct: "100 degrees",
        plausible_wrong: "90 degrees",
        subject: "physics",
    },
    Trivia {
        question: "At what temperature in Fahrenheit does water freeze?",
        correct: "32 degrees",
        plausible_wrong: "0 degrees",
        subject: "physics",
    },
    Trivia {
        question: "What is the largest desert in Africa?",
        correct: "the Sahara",
        plausible_wrong: "the Kalahari",
        subject: "geography",
    },
    Trivia {
        question: "Who composed the Moonlight Sonata?",
        correct: "Ludwig van Beethoven",
        plausible_wrong: "Wolfgang Amadeus Mozart",
        subject: "music",
    },
    Trivia { question: "Which element has the atomic number 1?", correct: "hydrogen", plausible_wrong: "helium", subject: "chemistry" },
    Trivia { question: "What is the smallest prime number?", correct: "2", plausible_wrong: "1", subject: "mathematics" },
    Trivia { question: "How many bones are in the adult human body?", correct: "206", plausible_wrong: "212", subject: "biology" },
    Trivia {
        question: "Which blood cells carry oxygen?",
        correct: "red blood cells",
        plausible_wrong: "white blood cells",
        subject: "biology",
    },
    Trivia {
        question: "Who wrote the novel Pride and Prejudice?",
        correct: "Jane Austen",
        plausible_wrong: "Charlotte Bronte",
        subject: "literature",
    },
    Trivia { question: "Which river flows through Cairo?", correct: "the Nile", plausible_wrong: "the Euphrates", subject: "geography" },
    Trivia {
        question: "What force keeps the planets in orbit around the Sun?",
        correct: "gravity",
        plausible_wrong: "magnetism",
        subject: "physics",
    },
];
