"""Trip planning, orchestrator-workers: a planner splits a trip into a flight, a hotel and one subtask per day.

The plan depends on the trip: a longer stay is more day subtasks, up to what
`max_subtasks` leaves (the remaining days stay free), and the planner deals the
activities that match the interests out over the days, each part of the day in
turn. The workers choose from the offers the request carries: the cheapest
flight leaving no earlier than asked, the best-rated hotel within the nightly
share of the budget, a day's activities back to back within their part of the
day. The writer adds the costs up against the budget.
"""

from __future__ import annotations

from typing import Any

from langgraph.types import RetryPolicy
from pydantic import BaseModel

from patterns.flows import orchestrator
from patterns.flows.orchestrator import Plan
from patterns.runtime import DEFAULT_RETRY, Agent, PatternGraph

__all__ = [
    "DAY_PLANNER",
    "FLIGHT_FINDER",
    "HOTEL_FINDER",
    "ITINERARY_WRITER",
    "RESPONDERS",
    "SAMPLE",
    "SPEC",
    "TRIP_PLANNER",
    "DayPlan",
    "FlightChoice",
    "Itinerary",
    "Stay",
    "trip_planning",
]

Payload = dict[str, Any]

#: The share of the budget the nights' lodging may take.
LODGING_SHARE = 0.5
#: When each part of the day starts and ends (hours): an activity runs within its part.
PARTS = {"morning": (9.0, 13.0), "afternoon": (13.0, 19.0), "evening": (19.0, 23.0)}


class FlightChoice(BaseModel):
    carrier: str
    departs: str
    price_eur: float
    total_eur: float


class Stay(BaseModel):
    hotel: str
    rating: float
    per_night_eur: float
    nights: int
    total_eur: float
    within_cap: bool


class Slot(BaseModel):
    starts: str
    activity: str


class DayPlan(BaseModel):
    day: int
    schedule: list[Slot]
    total_eur: float
    skipped: list[str]


class Itinerary(BaseModel):
    summary: str
    total_eur: float
    within_budget: bool
    days: list[DayPlan]
    free_days: list[int]
    missing: list[str]


TRIP_PLANNER = Agent(
    "trip_planner",
    "Split the trip into subtasks for the workers: one flight search, one hotel search, and "
    "the activities matching the interests dealt out over the days, one subtask per day. "
    "Keys: subtasks [{worker, id, input}].",
    output=Plan,
)
FLIGHT_FINDER = Agent(
    "flight_finder",
    "Choose the cheapest offer departing no earlier than asked. Keys: carrier, departs, price_eur, total_eur.",
    output=FlightChoice,
    description="chooses a flight from the offers",
)
HOTEL_FINDER = Agent(
    "hotel_finder",
    "Choose the best-rated hotel within the nightly cap. "
    "Keys: hotel, rating, per_night_eur, nights, total_eur, within_cap.",
    output=Stay,
    description="chooses a hotel within a nightly cap",
)
DAY_PLANNER = Agent(
    "day_planner",
    "Schedule the day's activities back to back within their part of the day (morning from 09:00, "
    "afternoon from 13:00, evening from 19:00); skip what does not fit. "
    "Keys: day, schedule [{starts, activity}], total_eur, skipped.",
    output=DayPlan,
    description="schedules one day's activities",
)
ITINERARY_WRITER = Agent(
    "itinerary_writer",
    "Combine the flight, the hotel and the days into the itinerary and add up the cost. "
    "Keys: summary, total_eur, within_budget, days, free_days, missing.",
    output=Itinerary,
)


# -- the scripted answers --------------------------------------------------------


def _plan_trip(payload: Payload) -> Payload:
    trip, limit = payload["input"], int(payload["max_subtasks"])
    nights, travellers = int(trip["nights"]), int(trip["travellers"])
    wanted = set(trip.get("interests") or [])
    matching = [a for a in trip.get("activities") or [] if wanted & set(a["tags"])]
    # Two subtasks go to the flight and the hotel; days beyond what is left stay free.
    days = max(0, min(nights, limit - 2))
    # Each part of the day dealt out in turn, so every day gets a morning, an afternoon, an evening.
    dealt: dict[int, list[Payload]] = {day: [] for day in range(1, days + 1)}
    for part in PARTS:
        of_part = sorted((a for a in matching if a["when"] == part), key=lambda a: a["name"])
        for i, activity in enumerate(of_part):
            dealt[i % days + 1].append(activity)
    subtasks: list[Payload] = [
        {
            "worker": "flight_finder",
            "id": "flight",
            "input": {
                "offers": trip["flights"],
                "earliest": trip["earliest_departure"],
                "travellers": travellers,
            },
        },
        {
            "worker": "hotel_finder",
            "id": "hotel",
            "input": {
                "hotels": trip["hotels"],
                "nights": nights,
                "max_per_night_eur": round(LODGING_SHARE * float(trip["budget_eur"]) / nights, 2),
            },
        },
    ]
    subtasks += [
        {
            "worker": "day_planner",
            "id": f"day_{day}",
            "input": {"day": day, "activities": activities, "travellers": travellers},
        }
        for day, activities in dealt.items()
    ]
    return {"subtasks": subtasks}


def _find_flight(payload: Payload) -> Payload:
    offers = payload["offers"]
    late_enough = [o for o in offers if o["departs"] >= payload["earliest"]] or offers
    best = min(late_enough, key=lambda o: (o["price_eur"], o["departs"], o["carrier"]))
    return {
        "carrier": best["carrier"],
        "departs": best["departs"],
        "price_eur": best["price_eur"],
        "total_eur": round(best["price_eur"] * int(payload["travellers"]), 2),
    }


def _find_hotel(payload: Payload) -> Payload:
    hotels, cap, nights = payload["hotels"], float(payload["max_per_night_eur"]), int(payload["nights"])
    within = [h for h in hotels if h["per_night_eur"] <= cap]
    if within:
        best = max(within, key=lambda h: (h["rating"], -h["per_night_eur"], h["name"]))
    else:
        best = min(hotels, key=lambda h: (h["per_night_eur"], h["name"]))
    return {
        "hotel": best["name"],
        "rating": best["rating"],
        "per_night_eur": best["per_night_eur"],
        "nights": nights,
        "total_eur": round(best["per_night_eur"] * nights, 2),
        "within_cap": bool(within),
    }


def _clock(hours: float) -> str:
    minutes = round(hours * 60)
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _plan_day(payload: Payload) -> Payload:
    travellers = int(payload["travellers"])
    clock = {part: start for part, (start, _end) in PARTS.items()}
    schedule, skipped, total = [], [], 0.0
    for activity in sorted(payload["activities"], key=lambda a: list(PARTS).index(a["when"])):
        part, hours = activity["when"], float(activity["hours"])
        if clock[part] + hours > PARTS[part][1]:
            skipped.append(activity["name"])
            continue
        schedule.append({"starts": _clock(clock[part]), "activity": activity["name"]})
        clock[part] += hours
        total += float(activity["price_eur"]) * travellers
    return {"day": payload["day"], "schedule": schedule, "total_eur": round(total, 2), "skipped": skipped}


def _write_itinerary(payload: Payload) -> Payload:
    trip = payload["input"]
    by_worker: dict[str, list[Payload]] = {}
    for result in payload["results"]:
        by_worker.setdefault(result["worker"], []).append(result["output"])
    flight = next(iter(by_worker.get("flight_finder", [])), None)
    hotel = next(iter(by_worker.get("hotel_finder", [])), None)
    days = sorted(by_worker.get("day_planner") or [], key=lambda d: d["day"])
    planned = {d["day"] for d in days}
    missing = [f["id"] for f in payload["failed"]]
    # A day whose subtask failed is missing, not free: it was planned.
    failed_days = {int(i.removeprefix("day_")) for i in missing if i.startswith("day_")}
    free = [d for d in range(1, int(trip["nights"]) + 1) if d not in planned | failed_days]
    activities = round(sum(d["total_eur"] for d in days), 2)
    total = round(activities + (flight or {}).get("total_eur", 0.0) + (hotel or {}).get("total_eur", 0.0), 2)
    parts = [
        f"{flight['carrier']} at {flight['departs']} ({flight['total_eur']:g} EUR)"
        if flight
        else "no flight",
        f"{hotel['hotel']} ({hotel['total_eur']:g} EUR)" if hotel else "no hotel",
        f"{sum(len(d['schedule']) for d in days)} activities over {len(days)} days ({activities:g} EUR)",
    ]
    summary = (
        f"{trip['nights']} nights in {trip['destination']} for {trip['travellers']}: {', '.join(parts)}; "
        f"total {total:g} of {trip['budget_eur']:g} EUR"
        + (f"; missing: {', '.join(missing)}" if missing else "")
    )
    return {
        "summary": summary,
        "total_eur": total,
        "within_budget": total <= float(trip["budget_eur"]),
        "days": days,
        "free_days": free,
        "missing": missing,
    }


RESPONDERS = {
    "trip_planner": _plan_trip,
    "flight_finder": _find_flight,
    "hotel_finder": _find_hotel,
    "day_planner": _plan_day,
    "itinerary_writer": _write_itinerary,
}


def _activity(name: str, when: str, tags: list[str], price_eur: float, hours: float) -> Payload:
    return {"name": name, "when": when, "tags": tags, "price_eur": price_eur, "hours": hours}


SAMPLE: dict[str, Any] = {
    "input": {
        "destination": "Lisbon",
        "nights": 3,
        "travellers": 2,
        "budget_eur": 1500,
        "interests": ["food", "history", "views"],
        "earliest_departure": "08:00",
        "flights": [
            {"carrier": "easyJet", "departs": "06:10", "price_eur": 121},
            {"carrier": "TAP", "departs": "07:05", "price_eur": 164},
            {"carrier": "Ryanair", "departs": "09:30", "price_eur": 139},
            {"carrier": "Lufthansa", "departs": "11:40", "price_eur": 212},
        ],
        "hotels": [
            {"name": "Hostel Rossio", "per_night_eur": 60, "rating": 4.1},
            {"name": "Alfama Loft", "per_night_eur": 140, "rating": 4.6},
            {"name": "Baixa Suites", "per_night_eur": 185, "rating": 4.8},
            {"name": "Palacio Chiado", "per_night_eur": 320, "rating": 4.9},
        ],
        "activities": [
            _activity("Belem Tower", "morning", ["history", "views"], 10, 1.5),
            _activity("Jeronimos Monastery", "morning", ["history"], 12, 2),
            _activity("Sao Jorge Castle", "morning", ["history", "views"], 15, 2),
            _activity("Oceanarium", "morning", ["nature"], 25, 2.5),
            _activity("Cooking class", "afternoon", ["food"], 70, 4.5),
            _activity("Pasteis de Belem tasting", "afternoon", ["food"], 8, 0.5),
            _activity("Time Out Market lunch", "afternoon", ["food"], 25, 1.5),
            _activity("Tram 28 ride", "afternoon", ["views", "history"], 3, 1),
            _activity("LX Factory", "afternoon", ["shopping"], 0, 2),
            _activity("Fado dinner in Alfama", "evening", ["food", "history"], 55, 3),
            _activity("Miradouro da Senhora do Monte", "evening", ["views"], 0, 1),
        ],
    },
    "max_concurrency": 3,
}


def trip_planning(
    *, checkpointer: Any = None, retry_policy: RetryPolicy | None = DEFAULT_RETRY
) -> PatternGraph:
    """A trip planned into a flight, a hotel and one subtask per day, done in parallel, then costed."""
    return SPEC.compile(checkpointer=checkpointer, retry_policy=retry_policy)


SPEC = orchestrator.SPEC.preset(
    planner=TRIP_PLANNER,
    workers=[FLIGHT_FINDER, HOTEL_FINDER, DAY_PLANNER],
    synthesizer=ITINERARY_WRITER,
    summary="a planner splits a trip into subtasks, workers do them in parallel, a writer costs the itinerary",
    sample=SAMPLE,
)
