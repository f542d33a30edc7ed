//! HellaSwag-style continuations: a short scene from an everyday activity, cut mid-sentence,
//! with four endings. The sensible ending belongs to the scene; the other three are sensible
//! endings of *other* activities, so they do not fit (correct by construction).

use super::{capitalize, person, Person};
use crate::pyrandom::PyRandom;
use crate::record::{HellaSwag, Record};

/// One step of an activity: a setup sentence, the start of the next one, and how it goes on.
/// `{N}` is the person's name, `{S}` the subject pronoun, `{P}` the possessive.
struct Step {
    setup: &'static str,
    lead: &'static str,
    ending: &'static str,
}

struct Activity {
    label: &'static str,
    steps: &'static [Step],
}

const fn s(setup: &'static str, lead: &'static str, ending: &'static str) -> Step {
    Step { setup, lead, ending }
}

const ACTIVITIES: &[Activity] = &[
    Activity {
        label: "Making tea",
        steps: &[
            s("{N} fills a kettle with water and switches it on.", "When the water boils, {S}", "pours it over a tea bag in a mug."),
            s("{N} lets the tea steep for a few minutes.", "Then {S}", "takes out the tea bag and adds a splash of milk."),
        ],
    },
    Activity {
        label: "Washing a car",
        steps: &[
            s("{N} parks the car in the driveway and fills a bucket with soapy water.", "Next, {S}", "scrubs the doors with a big sponge."),
            s("{N} rinses the soap off the car with a hose.", "Finally, {S}", "dries the windows with a soft towel."),
        ],
    },
    Activity {
        label: "Planting a tree",
        steps: &[
            s("{N} digs a deep hole in the backyard.", "Then {S}", "lowers the young tree into the hole."),
            s("{N} pushes soil back around the roots.", "After that, {S}", "waters the tree generously."),
        ],
    },
    Activity {
        label: "Changing a tire",
        steps: &[
            s("{N} loosens the nuts on the flat tire.", "Next, {S}", "raises the car with a jack."),
            s("{N} slides the spare tire onto the wheel bolts.", "Then {S}", "tightens the nuts with a wrench."),
        ],
    },
    Activity {
        label: "Brushing teeth",
        steps: &[
            s("{N} squeezes toothpaste onto a toothbrush.", "Then {S}", "brushes each tooth in small circles."),
            s("{N} spits the foam into the sink.", "Afterwards, {S}", "rinses {P} mouth with water."),
        ],
    },
    Activity {
        label: "Baking bread",
        steps: &[
            s("{N} mixes flour, water, yeast and salt in a bowl.", "Then {S}", "kneads the dough on the counter."),
            s("{N} shapes the risen dough into a loaf.", "Next, {S}", "puts it in the hot oven to bake."),
        ],
    },
    Activity {
        label: "Painting a wall",
        steps: &[
            s("{N} covers the floor with an old sheet.", "Then {S}", "dips a roller into the paint tray."),
            s("{N} rolls a first coat of blue paint onto the wall.", "Once it dries, {S}", "adds a second coat to even it out."),
        ],
    },
    Activity {
        label: "Walking a dog",
        steps: &[
            s("{N} clips a leash onto the dog's collar.", "Then {S}", "opens the front door and heads to the park."),
            s("The dog stops to sniff a tree at the park.", "{N} waits, and then {S}", "throws a ball for the dog to chase."),
        ],
    },
    Activity {
        label: "Making a sandwich",
        steps: &[
            s("{N} takes two slices of bread out of the bag.", "Then {S}", "spreads butter on each slice."),
            s("{N} lays cheese and tomato on one slice.", "Next, {S}", "places the other slice on top and cuts it in half."),
        ],
    },
    Activity {
        label: "Doing laundry",
        steps: &[
            s("{N} sorts the dirty clothes into whites and colors.", "Then {S}", "loads the whites into the washing machine."),
            s("The washing machine finishes its cycle.", "{N} opens it, and {S}", "hangs the wet clothes on a line to dry."),
        ],
    },
    Activity {
        label: "Riding a bike",
        steps: &[
            s("{N} buckles a helmet and wheels the bike onto the road.", "Then {S}", "pushes off and starts pedaling."),
            s("{N} reaches a steep hill on the bike.", "To climb it, {S}", "shifts into a lower gear."),
        ],
    },
    Activity {
        label: "Swimming",
        steps: &[
            s("{N} puts on goggles at the edge of the pool.", "Then {S}", "dives into the water."),
            s("{N} swims to the end of the lane.", "At the wall, {S}", "turns around and swims back."),
        ],
    },
    Activity {
        label: "Building a sandcastle",
        steps: &[
            s("{N} fills a bucket with wet sand on the beach.", "Then {S}", "flips the bucket over to make a tower."),
            s("{N} has built four sand towers.", "Next, {S}", "digs a moat around them."),
        ],
    },
    Activity {
        label: "Playing guitar",
        steps: &[
            s("{N} sits down and rests a guitar on {P} knee.", "First, {S}", "tunes each string."),
            s("{N} places {P} fingers on the frets for a chord.", "Then {S}", "strums the strings with a pick."),
        ],
    },
    Activity {
        label: "Mowing the lawn",
        steps: &[
            s("{N} pulls the cord to start the lawn mower.", "Then {S}", "pushes the mower across the grass in straight lines."),
            s("The grass bag on the mower is full.", "{N} stops, and {S}", "empties the clippings into the compost bin."),
        ],
    },
    Activity {
        label: "Washing dishes",
        steps: &[
            s("{N} fills the sink with hot soapy water.", "Then {S}", "scrubs the plates with a brush."),
            s("{N} rinses a clean plate under the tap.", "Next, {S}", "sets it in the rack to dry."),
        ],
    },
    Activity {
        label: "Wrapping a gift",
        steps: &[
            s("{N} places a box on a sheet of wrapping paper.", "Then {S}", "folds the paper around the box."),
            s("{N} tapes the paper closed.", "Finally, {S}", "ties a ribbon around the present."),
        ],
    },
    Activity {
        label: "Setting a table",
        steps: &[
            s("{N} spreads a cloth over the dining table.", "Then {S}", "puts a plate in front of each chair."),
            s("{N} lays a fork beside each plate.", "Next, {S}", "fills the glasses with water."),
        ],
    },
    Activity {
        label: "Fishing",
        steps: &[
            s("{N} puts a worm on the hook.", "Then {S}", "casts the line into the lake."),
            s("The float on {N}'s line suddenly dips.", "Quickly, {S}", "reels in a small fish."),
        ],
    },
    Activity {
        label: "Cooking pasta",
        steps: &[
            s("{N} brings a large pot of salted water to a boil.", "Then {S}", "adds the spaghetti to the pot."),
            s("After ten minutes the pasta is soft.", "{N} turns off the stove, and {S}", "drains the pasta in a colander."),
        ],
    },
    Activity {
        label: "Shoveling snow",
        steps: &[
            s("Snow has covered the path to {N}'s house.", "Wearing warm gloves, {S}", "scoops the snow off the path with a shovel."),
            s("{N} has cleared most of the path.", "To stop people slipping, {S}", "sprinkles salt on the icy spots."),
        ],
    },
    Activity {
        label: "Ice skating",
        steps: &[
            s("{N} laces up a pair of skates by the rink.", "Then {S}", "steps carefully onto the ice."),
            s("{N} glides slowly along the edge of the rink.", "Gaining confidence, {S}", "lets go of the wall and skates to the middle."),
        ],
    },
    Activity {
        label: "Flying a kite",
        steps: &[
            s("{N} unrolls some string from a kite on a windy hill.", "Then {S}", "runs into the wind holding the string."),
            s("The kite rises high above the hill.", "{N} holds on tight, and {S}", "lets out more string so it climbs higher."),
        ],
    },
    Activity {
        label: "Knitting",
        steps: &[
            s("{N} loops blue yarn onto a knitting needle.", "Then {S}", "knits the first row of a scarf."),
            s("{N}'s scarf is now long enough.", "To finish, {S}", "casts off the last stitches."),
        ],
    },
    Activity {
        label: "Making a bed",
        steps: &[
            s("{N} pulls a fresh sheet over the mattress.", "Then {S}", "tucks the corners under the mattress."),
            s("{N} spreads the blanket over the sheet.", "Finally, {S}", "puts the pillows at the head of the bed."),
        ],
    },
    Activity {
        label: "Shaving",
        steps: &[
            s("{N} spreads shaving cream on {P} cheeks.", "Then {S}", "glides a razor down {P} face."),
            s("{N} finishes shaving.", "Afterwards, {S}", "rinses {P} face with cool water."),
        ],
    },
    Activity {
        label: "Jogging",
        steps: &[
            s("{N} ties {P} running shoes and stretches {P} legs.", "Then {S}", "jogs at an easy pace along the river."),
            s("{N} has run three miles and feels tired.", "To cool down, {S}", "slows to a walk for the last few minutes."),
        ],
    },
    Activity {
        label: "Cleaning windows",
        steps: &[
            s("{N} sprays glass cleaner on a dusty window.", "Then {S}", "wipes it with a cloth in wide strokes."),
            s("{N} notices streaks left on the glass.", "So {S}", "polishes them away with a dry cloth."),
        ],
    },
];

pub(super) fn item(rng: &mut PyRandom) -> Record {
    let a = rng.randrange(ACTIVITIES.len());
    let activity = &ACTIVITIES[a];
    let step = &activity.steps[rng.randrange(activity.steps.len())];
    let who = person(rng);

    // Three endings from three other activities.
    let mut others: Vec<usize> = (0..ACTIVITIES.len()).filter(|&i| i != a).collect();
    rng.shuffle(&mut others);
    let mut wrong: Vec<String> = others[..3]
        .iter()
        .map(|&i| {
            let steps = ACTIVITIES[i].steps;
            fill(steps[rng.randrange(steps.len())].ending, who)
        })
        .collect();
    let label = rng.randrange(4);
    wrong.insert(label, fill(step.ending, who));
    let endings = wrong;

    let ctx_a = fill(step.setup, who);
    let ctx_b = fill(step.lead, who);
    Record::HellaSwag(HellaSwag {
        ind: None,
        activity_label: activity.label.to_string(),
        ctx: format!("{ctx_a} {ctx_b}"),
        ctx_a,
        ctx_b,
        endings,
        source_id: None,
        split: None,
        split_type: None,
        label,
    })
}

fn fill(template: &str, who: Person) -> String {
    let text = template.replace("{N}", who.name).replace("{S}", who.subject).replace("{P}", who.possessive);
    // A pronoun opening the sentence is capitalized.
    if template.starts_with("{S}") || template.starts_with("{P}") {
        capitalize(&text)
    } else {
        text
    }
}

/// Whether `ending` is a sensible ending of the named activity (tests check items by construction).
#[cfg(test)]
pub(super) fn is_sensible(activity_label: &str, ending: &str) -> bool {
    ACTIVITIES
        .iter()
        .filter(|a| a.label == activity_label)
        .flat_map(|a| a.steps)
        .any(|s| super::PEOPLE.iter().any(|p| fill(s.ending, *p) == ending))
}
