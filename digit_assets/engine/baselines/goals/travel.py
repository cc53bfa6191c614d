"""Travel goals: a traveller books, cancels and changes trips described by route, day, hotel and cabin."""

from __future__ import annotations

import math
import random
from datetime import date, timedelta

from digit_assets.engine.baselines.environments.base import Entity, State
from digit_assets.engine.baselines.environments.travel import AIRPORTS, CABINS, POINTS_PER_DOLLAR
from digit_assets.engine.baselines.goals.core import Expectation, Goal, Literal, Persona, Task, say_date, unique_by

CABIN_WORDS = {"basic": "basic fare", "economy": "economy", "business": "business class"}
POINTS_OR_CARD = "use my points if I have enough, otherwise charge my card"


def persona(state: State, rng: random.Random) -> Persona:
    traveller = rng.choice(list(state.rows("travellers")))
    namesakes = sum(1 for t in state.rows("travellers") if t["name"] == traveller["name"])
    literals = [Literal(traveller["name"], ("name",))]
    intro = f"Hi, this is {traveller['name']}."
    if namesakes > 1:
        literals.append(Literal(traveller["email"], ("email",)))
        intro = f"Hi, this is {traveller['name']} ({traveller['email']})."
    return Persona(intro=intro, literals=tuple(literals), entity_id=traveller["traveller_id"])


def _upcoming(state: State, row_date: str) -> bool:
    return row_date >= state.context["today"]


def _place(code: str) -> str:
    return f"{AIRPORTS[code]} ({code})"


def _payment(traveller: Entity, amount: float, rng: random.Random) -> tuple[str, str]:
    """(expected payment, how the user says it): points only when asked for and affordable."""
    if rng.random() < 0.5:
        affordable = traveller["loyalty_points"] >= math.ceil(amount * POINTS_PER_DOLLAR)
        return ("points" if affordable else "card"), POINTS_OR_CARD
    return "card", "charge my card"


def _my_bookings(state: State, traveller_id: str) -> list[Entity]:
    return [b for b in state.rows("bookings") if b["traveller_id"] == traveller_id and b["status"] == "confirmed" and _upcoming(state, b["date"])]


def book_flight(state: State, who: Persona, rng: random.Random) -> Goal | None:
    traveller = state.get("travellers", who.entity_id)
    upcoming = [f for f in state.rows("flights") if _upcoming(state, f["date"])]
    pick = rng.choice(upcoming)
    cabin = rng.choice(CABINS)
    same_day = [f for f in upcoming if (f["origin"], f["destination"], f["date"]) == (pick["origin"], pick["destination"], pick["date"])]
    open_seats = [f for f in same_day if f["seats_left"][cabin] > 0]
    if not open_seats:
        return None
    cheapest = rng.random() < 0.6
    flight = min(open_seats, key=lambda f: f["fares"][cabin]) if cheapest else rng.choice(open_seats)
    if cheapest and sum(1 for f in open_seats if f["fares"][cabin] == flight["fares"][cabin]) > 1:
        return None
    already = {b.get("flight_id") for b in _my_bookings(state, traveller["traveller_id"])}
    if flight["flight_id"] in already:
        return None
    payment, how = _payment(traveller, flight["fares"][cabin], rng)
    when, route = say_date(flight["date"], rng), f"from {_place(flight['origin'])} to {_place(flight['destination'])}"
    literals = [Literal(flight["origin"], ("origin",)), Literal(flight["destination"], ("destination",)), Literal(flight["date"], ("date",))]
    if cheapest:
        request = f"Please book me a {CABIN_WORDS[cabin]} seat on the cheapest flight {route} on {when}; {how}."
    else:
        request = f"Book me on {flight['flight_number']} {route} on {when}, {CABIN_WORDS[cabin]}; {how}."
        literals.append(Literal(flight["flight_number"], ("flight_number",)))
    expected = {"traveller_id": traveller["traveller_id"], "flight_id": flight["flight_id"], "cabin": cabin, "payment": payment}
    oracle = Expectation(
        state,
        creations={"bookings": lambda b: all(b.get(key) == value for key, value in expected.items())},
        side_effects=frozenset({("flights", flight["flight_id"]), ("travellers", traveller["traveller_id"])}),
    )
    return Goal("book_flight", Task(request, tuple(literals)), oracle)


def book_hotel(state: State, who: Persona, rng: random.Random) -> Goal | None:
    """A stay, preferably where the traveller's next flight lands, starting the day it lands."""
    traveller = state.get("travellers", who.entity_id)
    today = date.fromisoformat(state.context["today"])
    flights = [b for b in _my_bookings(state, traveller["traveller_id"]) if b["kind"] == "flight"]
    if flights and rng.random() < 0.7:
        trip = rng.choice(flights)
        city, check_in = AIRPORTS[trip["destination"]], date.fromisoformat(trip["date"])
    else:
        city, check_in = rng.choice(sorted(AIRPORTS.values())), today + timedelta(days=rng.randint(1, 20))
    hotels = [h for h in unique_by([h for h in state.rows("hotels") if h["city"] == city], lambda h: h["name"]) if h["rooms_left"] > 0]
    if not hotels:
        return None
    hotel = rng.choice(hotels)
    check_out = check_in + timedelta(days=rng.randint(1, 4))
    payment, how = _payment(traveller, hotel["nightly_rate"] * (check_out - check_in).days, rng)
    stay_in, stay_out = check_in.isoformat(), check_out.isoformat()
    request = rng.choice(
        [
            f"Please book me a room at the {hotel['name']} in {city} from {say_date(stay_in, rng)} to {say_date(stay_out, rng)}; {how}.",
            f"Please book the {hotel['name']} in {city}, checking in {say_date(stay_in, rng)} and out {say_date(stay_out, rng)}; {how}.",
        ]
    )
    literals = (Literal(city, ("city",)), Literal(stay_in, ("check_in",)), Literal(stay_out, ("check_out",)), Literal(hotel["name"], ()))
    expected = {"traveller_id": traveller["traveller_id"], "hotel_id": hotel["hotel_id"], "date": stay_in, "check_out": stay_out, "payment": payment}
    oracle = Expectation(
        state,
        creations={"bookings": lambda b: all(b.get(key) == value for key, value in expected.items())},
        side_effects=frozenset({("hotels", hotel["hotel_id"]), ("travellers", traveller["traveller_id"])}),
    )
    return Goal("book_hotel", Task(request, literals), oracle)


def cancel_booking(state: State, who: Persona, rng: random.Random) -> Goal | None:
    mine = [b for b in _my_bookings(state, who.entity_id) if b.get("cabin") != "basic"]
    mine = unique_by(mine, lambda b: (b["kind"], b["date"]))
    if not mine:
        return None
    booking = rng.choice(mine)
    when = say_date(booking["date"], rng)
    if booking["kind"] == "flight":
        request = f"Please cancel my flight from {_place(booking['origin'])} to {_place(booking['destination'])} on {when}."
        literals = (Literal(booking["origin"], ("origin",)), Literal(booking["destination"], ("destination",)), Literal(booking["date"], ("date",)))
        resource = ("flights", booking["flight_id"])
    else:
        request = f"Please cancel my stay at the {booking['hotel_name']} in {booking['city']} starting {when}."
        literals = (Literal(booking["hotel_name"], ()), Literal(booking["city"], ("city",)), Literal(booking["date"], ("date",)))
        resource = ("hotels", booking["hotel_id"])
    oracle = Expectation(
        state,
        targets={("bookings", booking["booking_id"]): lambda b: b["status"] == "cancelled"},
        side_effects=frozenset({resource, ("travellers", who.entity_id)}),
    )
    return Goal("cancel_booking", Task(request, literals), oracle)


def change_flight(state: State, who: Persona, rng: random.Random) -> Goal | None:
    flights = [b for b in _my_bookings(state, who.entity_id) if b["kind"] == "flight" and b["cabin"] != "basic"]
    flights = unique_by(flights, lambda b: b["date"])
    if not flights:
        return None
    booking = rng.choice(flights)
    cabin = booking["cabin"]
    alternatives = [
        f
        for f in state.rows("flights")
        if (f["origin"], f["destination"]) == (booking["origin"], booking["destination"])
        and _upcoming(state, f["date"])
        and f["date"] != booking["date"]
        and f["seats_left"][cabin] > 0
    ]
    if not alternatives:
        return None
    new_date = rng.choice(sorted({f["date"] for f in alternatives}))
    acceptable = {f["flight_id"] for f in alternatives if f["date"] == new_date}
    request = (
        f"Please change my flight from {_place(booking['origin'])} to {_place(booking['destination'])} on"
        f" {say_date(booking['date'], rng)} to one on {say_date(new_date, rng)} instead."
    )
    literals = (
        Literal(booking["origin"], ("origin",)),
        Literal(booking["destination"], ("destination",)),
        Literal(booking["date"], ("date",)),
        Literal(new_date, ("date",)),
    )
    oracle = Expectation(
        state,
        targets={("bookings", booking["booking_id"]): lambda b: b["flight_id"] in acceptable and b["status"] == "confirmed"},
        side_effects=frozenset({("flights", booking["flight_id"]), ("travellers", who.entity_id), *(("flights", f) for f in acceptable)}),
    )
    return Goal("change_flight", Task(request, literals), oracle)


SAMPLERS = {
    "book_flight": book_flight,
    "book_hotel": book_hotel,
    "cancel_booking": cancel_booking,
    "change_flight": change_flight,
}
