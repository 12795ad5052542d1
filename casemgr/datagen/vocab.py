"""Small vocabularies for synthetic clinical text: plausible, cheap, deterministic, never real.

Every text is assembled from a few fixed phrases with a seeded generator, so a note costs a
handful of ``rng.choice`` calls and the same seed always writes the same words.
"""

from __future__ import annotations

import random
from typing import Any

SUBJECTIVE = (
    "Client reports sleeping better this week.",
    "Client reports cravings in the evenings, less intense than last week.",
    "Client describes conflict at home and feeling on edge.",
    "Client says the morning routine is helping.",
    "Client reports low mood after a difficult phone call.",
    "Client reports no use since the last session.",
    "Client describes anxiety before group and wanting to leave early.",
    "Client says they practised the breathing exercise twice a day.",
    "Client reports headaches that are easing.",
    "Client reports feeling hopeful about returning to work.",
)
OBJECTIVE = (
    "Alert and oriented, appropriately dressed, speech normal in rate.",
    "Affect restricted, maintained eye contact, no psychomotor agitation.",
    "Calm and cooperative, mild restlessness at the start of the session.",
    "Tearful at times, engaged throughout, thought process linear.",
    "Arrived on time, well groomed, affect congruent with mood.",
    "Fidgeting, brief answers early on, more open by the end.",
)
ASSESSMENT = (
    "Progressing toward the goal of identifying triggers.",
    "Motivation to change is increasing; ambivalence remains about family contact.",
    "Coping skills are emerging but not yet used consistently.",
    "Stable; no safety concerns identified today.",
    "Cravings are manageable with the skills practised in session.",
    "Engagement has improved since admission.",
    "Mood symptoms are interfering with progress; monitor closely.",
)
PLAN = (
    "Continue weekly individual sessions and daily group attendance.",
    "Practise the urge-surfing exercise and record cravings in the log.",
    "Review the relapse-prevention plan at the next session.",
    "Coordinate with the nurse about sleep concerns.",
    "Invite a family member to the next family session.",
    "Complete the coping-skills worksheet before the next session.",
    "Continue the current plan; reassess in one week.",
)
BEHAVIOR = (
    "Client attended and participated actively.",
    "Client was quiet at first and joined the discussion later.",
    "Client shared a recent high-risk situation.",
    "Client was restless and asked to take a short break.",
    "Client brought the completed homework.",
)
INTERVENTION = (
    "Counselor used {m} to explore triggers.",
    "Counselor reviewed the coping plan using {m}.",
    "Counselor used {m} to work on ambivalence about change.",
    "Counselor guided a role play of refusal skills ({m}).",
    "Counselor provided psychoeducation on cravings, drawing on {m}.",
)
#: How a modality reads inside a sentence.
MODALITY_WORDS = {
    "cbt": "CBT",
    "dbt": "DBT skills",
    "motivational_interviewing": "motivational interviewing",
    "contingency_management": "contingency management",
    "twelve_step_facilitation": "12-step facilitation",
    "trauma_focused": "a trauma-focused approach",
    "other": "supportive counseling",
}
RESPONSE = (
    "Client responded well and identified two new coping strategies.",
    "Client was receptive but struggled to name alternatives.",
    "Client engaged and agreed to practise the skill daily.",
    "Client responded with some resistance, then agreed to try.",
    "Client expressed relief after talking it through.",
)
GROUP_TOPICS = (
    "Relapse prevention: high-risk situations",
    "Managing cravings",
    "Healthy routines and sleep",
    "Communication and refusal skills",
    "Emotions and coping",
    "Building a support network",
    "Stress and relaxation skills",
    "Values and goals",
)
GROUP_SUMMARY = (
    "Group discussed {t}. Members shared examples and practised one skill together.",
    "Session on {t}: psychoeducation followed by a structured discussion.",
    "The group worked through an exercise on {t} and set a goal for the week.",
)
PHYSICAL = (
    "Vital signs stable; mild tremor; no seizure history.",
    "Blood pressure mildly raised; sweating; no focal signs.",
    "Vital signs within normal limits; poor appetite; weight stable.",
    "Tachycardic on arrival, settling; no history of withdrawal seizures.",
    "Fatigue and poor sleep; otherwise unremarkable examination.",
)
PSYCHOLOGICAL = (
    "Anxious mood, oriented, no suicidal ideation.",
    "Low mood and irritability; insight partial; no self-harm risk identified.",
    "Euthymic, cooperative, good insight into use.",
    "Anxious and tearful; sleep disturbed; denies suicidal ideation.",
    "Ambivalent about treatment; cognition intact.",
)
CO_OCCURRING = ("F41.1", "F32.1", "F43.10", "F90.0", "F41.0", "F33.1")
RATIONALE_INPATIENT = (
    "High relapse risk and an unsupportive home environment.",
    "Withdrawal risk needs 24-hour monitoring; several prior failed outpatient attempts.",
    "Co-occurring anxiety and unstable housing need a structured setting.",
)
RATIONALE_OUTPATIENT = (
    "Stable housing and supportive family; low withdrawal risk.",
    "Motivated, employed, and able to attend several sessions a week.",
    "Stepped down after residential treatment; continuing care in the community.",
)
DISCREPANCY = "Patient declined residential care; outpatient agreed with a safety plan."
PROBLEMS = (
    "Substance use disorder",
    "Anxiety symptoms",
    "Unstable housing",
    "Family conflict",
    "Unemployment",
    "Poor sleep",
)
GOALS = (
    "Sustain abstinence",
    "Identify and manage triggers",
    "Reduce anxiety without sedatives",
    "Rebuild family relationships",
    "Secure stable housing",
    "Return to work or study",
)
OBJECTIVES = (
    "Attend every group session",
    "Name three personal triggers and a plan for each",
    "Practise a relaxation skill daily for two weeks",
    "Attend one family session",
    "Meet the housing worker twice",
    "Keep a sleep diary for four weeks",
)
INTERVENTIONS = (
    "CBT",
    "Relapse-prevention group",
    "Motivational interviewing",
    "Family session",
    "Case management",
    "Mindfulness practice",
)
WAIVER = "No benzodiazepine dependence; no taper needed."
TAPER_OVERRIDE = "Short-term use under 3 months; a faster taper is appropriate."
DOSE_NOTES = {
    "refused": "Patient declined the dose.",
    "held": "Held: sedated on assessment; physician informed.",
}


def note_body(rng: random.Random, note_format: str, modality: str) -> dict[str, str]:
    """Compose a note's fields for its format (DAP, SOAP, BIRP or free text)."""
    r = rng.random

    def pick(phrases: tuple[str, ...]) -> str:
        return phrases[int(r() * len(phrases))]

    if note_format == "DAP":
        return {
            "data": f"{pick(SUBJECTIVE)} {pick(OBJECTIVE)}",
            "assessment": pick(ASSESSMENT),
            "plan": pick(PLAN),
        }
    if note_format == "SOAP":
        return {
            "subjective": pick(SUBJECTIVE),
            "objective": pick(OBJECTIVE),
            "assessment": pick(ASSESSMENT),
            "plan": pick(PLAN),
        }
    if note_format == "BIRP":
        return {
            "behavior": pick(BEHAVIOR),
            "intervention": pick(INTERVENTION).format(m=modality),
            "response": pick(RESPONSE),
            "plan": pick(PLAN),
        }
    return {"text": f"{pick(SUBJECTIVE)} {pick(ASSESSMENT)} {pick(PLAN)}"}


def group_summary(rng: random.Random, topic: str) -> str:
    """Write the shared summary of a group session."""
    return rng.choice(GROUP_SUMMARY).format(t=topic.lower())


def plan_problems(rng: random.Random, target_dates: list[str]) -> list[dict[str, Any]]:
    """Build a treatment plan tree: problems, goals, objectives with target dates, interventions."""
    others = rng.sample(PROBLEMS[1:], rng.randint(0, 2))
    tree = []
    for index, problem in enumerate((PROBLEMS[0], *others)):
        goals = []
        for goal in rng.sample(GOALS, rng.randint(1, 2)):
            goals.append(
                {
                    "description": goal,
                    "objectives": [
                        {
                            "description": rng.choice(OBJECTIVES),
                            "target_date": target_dates[(index + k) % len(target_dates)],
                            "interventions": rng.sample(INTERVENTIONS, 2),
                        }
                        for k in range(rng.randint(1, 2))
                    ],
                }
            )
        tree.append({"description": problem, "goals": goals})
    return tree
