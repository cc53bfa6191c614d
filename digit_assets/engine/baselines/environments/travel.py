"""Travel: travellers with loyalty points, flights with fares and seats per cabin, hotels, bookings."""

from __future__ import annotations

import math
import random
from datetime import date, timedelta
from typing import Any

from faker import Faker

from digit_assets.engine.baselines.environments.base import (
    State,
    ToolBox,
    ToolError,
    array,
    choice,
    day,
    integer,
    money,
    obj,
    text,
)

CABINS = ["basic", "economy", "business"]
PAYMENTS = ["card", "points"]
BOOKING_STATUSES = ["confirmed", "cancelled"]
TIERS = ["member", "silver", "gold"]
POINTS_PER_DOLLAR = 100  # paying with points costs 100 points per dollar
EARNED_PER_DOLLAR = 5  # paying by card earns 5 points per dollar
MAX_NIGHTS = 14

TRAVELLER_ID = text("Traveller id, as returned by find_travellers", pattern="^T[0-9]{4}$")
FLIGHT_ID = text("Flight id, as returned by search_flights", pattern="^FL[0-9]{5}$")
HOTEL_ID = text("Hotel id, as returned by search_hotels", pattern="^H[0-9]{3}$")
BOOKING_ID = text("Booking id, as returned by list_bookings", pattern="^BK[0-9]{5}$")
AIRPORT = text("IATA airport code", pattern="^[A-Z]{3}$")
CITY = text("City name")

TRAVELLER_SUMMARY = obj({"traveller_id": TRAVELLER_ID, "name": text("Full name"), "email": text("Email address", format="email"), "loyalty_tier": choice(TIERS, "Loyalty tier")})
FARES = obj({cabin: money(f"{cabin.title()} fare in USD") for cabin in CABINS})
SEATS = obj({cabin: integer(f"{cabin.title()} seats left", minimum=0) for cabin in CABINS})
FLIGHT = obj(
    {
        "flight_id": FLIGHT_ID,
        "flight_number": text("Airline flight number (carrier code and number)", pattern="^[A-Z0-9]{2}[0-9]{1,4}$"),
        "origin": AIRPORT,
        "destination": AIRPORT,
        "date": day("Departure day"),
        "departs_at": text("Local departure time (HH:MM)", pattern="^[0-2][0-9]:[0-5][0-9]$"),
        "arrives_at": text("Local arrival time (HH:MM)", pattern="^[0-2][0-9]:[0-5][0-9]$"),
        "fares": FARES,
        "seats_left": SEATS,
    }
)
HOTEL = obj(
    {
        "hotel_id": HOTEL_ID,
        "name": text("Hotel name"),
        "city": CITY,
        "stars": integer("Star rating", minimum=1, maximum=5),
        "nightly_rate": money("Price per night in USD"),
        "rooms_left": integer("Rooms available", minimum=0),
    }
)
BOOKING = obj(
    {
        "booking_id": BOOKING_ID,
        "traveller_id": TRAVELLER_ID,
        "kind": choice(["flight", "hotel"], "What was booked"),
        "status": choice(BOOKING_STATUSES, "Booking status"),
        "date": day("Departure or check-in day"),
        "payment": choice(PAYMENTS, "How it was paid"),
        "amount": money("Price paid in USD (card) or its value (points)"),
        "points_used": integer("Loyalty points spent", minimum=0),
    },
    {
        "flight_id": FLIGHT_ID,
        "flight_number": text("Airline flight number"),
        "origin": AIRPORT,
        "destination": AIRPORT,
        "cabin": choice(CABINS, "Cabin"),
        "hotel_id": HOTEL_ID,
        "hotel_name": text("Hotel name"),
        "city": CITY,
        "check_out": day("Check-out day"),
    },
)

toolbox = ToolBox()


def _today(state: State) -> date:
    return date.fromisoformat(state.context["today"])


def _charge(state: State, traveller: dict[str, Any], payment: str, amount: float) -> int:
    """Take points or card payment; returns the points spent. Card payments earn points."""
    points = traveller["loyalty_points"]
    if payment == "points":
        needed = math.ceil(amount * POINTS_PER_DOLLAR)
        if points < needed:
            raise ToolError(f"not enough loyalty points: {points} available, {needed} needed")
        state.update("travellers", traveller["traveller_id"], loyalty_points=points - needed)
        return needed
    state.update("travellers", traveller["traveller_id"], loyalty_points=points + int(amount * EARNED_PER_DOLLAR))
    return 0


def _refund(state: State, booking: dict[str, Any]) -> None:
    traveller = state.get("travellers", booking["traveller_id"])
    if booking["payment"] == "points":
        points = traveller["loyalty_points"] + booking["points_used"]
    else:
        points = max(0, traveller["loyalty_points"] - int(booking["amount"] * EARNED_PER_DOLLAR))
    state.update("travellers", traveller["traveller_id"], loyalty_points=points)


def _public(booking: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in booking.items() if key != "booked_on"}


@toolbox.tool(
    "Find travellers by (part of) their full name or by exact email address.",
    obj({}, {"name": text("Full name or part of it"), "email": text("Email address", format="email")},
        anyOf=[{"required": ["name"]}, {"required": ["email"]}]),
    obj({"travellers": array(TRAVELLER_SUMMARY, "Matching travellers")}),
)
def find_travellers(state: State, args: dict[str, Any]) -> dict[str, Any]:
    name = args.get("name", "").lower()
    email = args.get("email", "").lower()
    found = [
        {key: t[key] for key in ("traveller_id", "name", "email", "loyalty_tier")}
        for t in state.rows("travellers")
        if (not name or name in t["name"].lower()) and (not email or email == t["email"].lower())
    ]
    return {"travellers": found[:20]}


@toolbox.tool(
    "A traveller's profile with loyalty tier and points balance.",
    obj({"traveller_id": TRAVELLER_ID}),
    obj({**TRAVELLER_SUMMARY["properties"], "loyalty_points": integer("Points balance", minimum=0)}),
)
def get_traveller(state: State, args: dict[str, Any]) -> dict[str, Any]:
    return dict(state.require("travellers", args["traveller_id"], "traveller"))


@toolbox.tool(
    "Flights on one day between two airports, by departure time.",
    obj({"origin": AIRPORT, "destination": AIRPORT, "date": day("Departure day")}, {"cabin": choice(CABINS, "Only flights with seats left in this cabin")}),
    obj({"flights": array(FLIGHT, "Matching flights, by departure time")}),
)
def search_flights(state: State, args: dict[str, Any]) -> dict[str, Any]:
    if args["origin"] == args["destination"]:
        raise ToolError("origin and destination must differ")
    found = [
        f
        for f in state.rows("flights")
        if (f["origin"], f["destination"], f["date"]) == (args["origin"], args["destination"], args["date"])
        and (args.get("cabin") is None or f["seats_left"][args["cabin"]] > 0)
    ]
    return {"flights": [dict(f) for f in sorted(found, key=lambda f: f["departs_at"])]}


@toolbox.tool("One flight with its fares and seats left.", obj({"flight_id": FLIGHT_ID}), FLIGHT)
def get_flight(state: State, args: dict[str, Any]) -> dict[str, Any]:
    return dict(state.require("flights", args["flight_id"], "flight"))


@toolbox.tool(
    f"Book a seat for a traveller, paid by card (earns {EARNED_PER_DOLLAR} points per dollar) or with points"
    f" ({POINTS_PER_DOLLAR} points per dollar of fare). Basic fares cannot be changed or refunded.",
    obj({"flight_id": FLIGHT_ID, "traveller_id": TRAVELLER_ID, "cabin": choice(CABINS, "Cabin"), "payment": choice(PAYMENTS, "How to pay")}),
    BOOKING,
    writes=True,
    report="booked {cabin} on {flight_number} ({origin} to {destination}, {date}), booking {booking_id}",
)
def book_flight(state: State, args: dict[str, Any]) -> dict[str, Any]:
    flight = state.require("flights", args["flight_id"], "flight")
    traveller = state.require("travellers", args["traveller_id"], "traveller")
    cabin = args["cabin"]
    if date.fromisoformat(flight["date"]) < _today(state):
        raise ToolError(f"flight {flight['flight_number']} on {flight['date']} has already departed")
    if flight["seats_left"][cabin] == 0:
        raise ToolError(f"{cabin} on flight {flight['flight_number']} ({flight['date']}) is sold out")
    for booking in state.rows("bookings"):
        if booking.get("flight_id") == flight["flight_id"] and booking["traveller_id"] == traveller["traveller_id"] and booking["status"] == "confirmed":
            raise ToolError(f"{traveller['name']} is already booked on this flight ({booking['booking_id']})")
    fare = flight["fares"][cabin]
    points_used = _charge(state, traveller, args["payment"], fare)
    state.update("flights", flight["flight_id"], seats_left={**flight["seats_left"], cabin: flight["seats_left"][cabin] - 1})
    booking_id = state.next_id("bookings", "BK", 5)
    booking = {
        "booking_id": booking_id,
        "traveller_id": traveller["traveller_id"],
        "kind": "flight",
        "status": "confirmed",
        "date": flight["date"],
        "payment": args["payment"],
        "amount": fare,
        "points_used": points_used,
        "flight_id": flight["flight_id"],
        "flight_number": flight["flight_number"],
        "origin": flight["origin"],
        "destination": flight["destination"],
        "cabin": cabin,
        "booked_on": state.context["today"],
    }
    state.put("bookings", booking_id, booking)
    return _public(booking)


@toolbox.tool(
    "Hotels in a city with rooms for the whole stay, optionally under a nightly rate.",
    obj({"city": CITY, "check_in": day("Arrival day"), "check_out": day("Departure day")}, {"max_nightly_rate": money("Highest nightly rate in USD")}),
    obj({"hotels": array(HOTEL, "Matching hotels, cheapest first")}),
)
def search_hotels(state: State, args: dict[str, Any]) -> dict[str, Any]:
    if args["check_out"] <= args["check_in"]:
        raise ToolError("check_out must be after check_in")
    found = [
        h
        for h in state.rows("hotels")
        if h["city"].lower() == args["city"].lower() and h["nightly_rate"] <= args.get("max_nightly_rate", float("inf"))
    ]
    return {"hotels": [dict(h) for h in sorted(found, key=lambda h: (h["nightly_rate"], h["hotel_id"]))]}


@toolbox.tool(
    f"Book a hotel room (at most {MAX_NIGHTS} nights), paid by card or with points"
    f" ({POINTS_PER_DOLLAR} points per dollar).",
    obj(
        {
            "hotel_id": HOTEL_ID,
            "traveller_id": TRAVELLER_ID,
            "check_in": day("Arrival day"),
            "check_out": day("Departure day"),
            "payment": choice(PAYMENTS, "How to pay"),
        }
    ),
    BOOKING,
    writes=True,
    report="booked {hotel_name} in {city} from {date} to {check_out}, booking {booking_id}",
)
def book_hotel(state: State, args: dict[str, Any]) -> dict[str, Any]:
    hotel = state.require("hotels", args["hotel_id"], "hotel")
    traveller = state.require("travellers", args["traveller_id"], "traveller")
    check_in, check_out = date.fromisoformat(args["check_in"]), date.fromisoformat(args["check_out"])
    if check_in < _today(state):
        raise ToolError(f"check_in {args['check_in']} is in the past")
    nights = (check_out - check_in).days
    if not 0 < nights <= MAX_NIGHTS:
        raise ToolError(f"a stay must last 1 to {MAX_NIGHTS} nights, not {nights}")
    if hotel["rooms_left"] == 0:
        raise ToolError(f"{hotel['name']} has no rooms left")
    amount = round(hotel["nightly_rate"] * nights, 2)
    points_used = _charge(state, traveller, args["payment"], amount)
    state.update("hotels", hotel["hotel_id"], rooms_left=hotel["rooms_left"] - 1)
    booking_id = state.next_id("bookings", "BK", 5)
    booking = {
        "booking_id": booking_id,
        "traveller_id": traveller["traveller_id"],
        "kind": "hotel",
        "status": "confirmed",
        "date": args["check_in"],
        "payment": args["payment"],
        "amount": amount,
        "points_used": points_used,
        "hotel_id": hotel["hotel_id"],
        "hotel_name": hotel["name"],
        "city": hotel["city"],
        "check_out": args["check_out"],
        "booked_on": state.context["today"],
    }
    state.put("bookings", booking_id, booking)
    return _public(booking)


@toolbox.tool(
    "A traveller's bookings, soonest first, optionally only those with one status.",
    obj({"traveller_id": TRAVELLER_ID}, {"status": choice(BOOKING_STATUSES, "Only bookings with this status")}),
    obj({"bookings": array(BOOKING, "Bookings, soonest first")}),
)
def list_bookings(state: State, args: dict[str, Any]) -> dict[str, Any]:
    state.require("travellers", args["traveller_id"], "traveller")
    found = [
        _public(b)
        for b in state.rows("bookings")
        if b["traveller_id"] == args["traveller_id"] and args.get("status") in (None, b["status"])
    ]
    return {"bookings": sorted(found, key=lambda b: (b["date"], b["booking_id"]))}


@toolbox.tool("One booking.", obj({"booking_id": BOOKING_ID}), BOOKING)
def get_booking(state: State, args: dict[str, Any]) -> dict[str, Any]:
    return _public(state.require("bookings", args["booking_id"], "booking"))


@toolbox.tool(
    "Cancel an upcoming confirmed booking and refund it (points back to the balance, card payments to the card)."
    " Basic fares are not refundable.",
    obj({"booking_id": BOOKING_ID}),
    BOOKING,
    writes=True,
    report="cancelled booking {booking_id} and refunded ${amount:.2f}",
)
def cancel_booking(state: State, args: dict[str, Any]) -> dict[str, Any]:
    booking = state.require("bookings", args["booking_id"], "booking")
    if booking["status"] != "confirmed":
        raise ToolError(f"booking {booking['booking_id']} is already {booking['status']}")
    if date.fromisoformat(booking["date"]) < _today(state):
        raise ToolError(f"booking {booking['booking_id']} started on {booking['date']} and can no longer be cancelled")
    if booking.get("cabin") == "basic":
        raise ToolError(f"booking {booking['booking_id']} is a basic fare, which cannot be refunded")
    _refund(state, booking)
    if booking["kind"] == "flight":
        flight = state.get("flights", booking["flight_id"])
        seats = {**flight["seats_left"], booking["cabin"]: flight["seats_left"][booking["cabin"]] + 1}
        state.update("flights", flight["flight_id"], seats_left=seats)
    else:
        hotel = state.get("hotels", booking["hotel_id"])
        state.update("hotels", hotel["hotel_id"], rooms_left=hotel["rooms_left"] + 1)
    return _public(state.update("bookings", booking["booking_id"], status="cancelled"))


@toolbox.tool(
    "Move a confirmed flight booking to another flight on the same route; the fare difference is charged"
    " or refunded to the original payment. Basic fares cannot be changed.",
    obj({"booking_id": BOOKING_ID, "flight_id": FLIGHT_ID}),
    BOOKING,
    writes=True,
    report="moved booking {booking_id} to {flight_number} on {date}",
)
def change_flight(state: State, args: dict[str, Any]) -> dict[str, Any]:
    booking = state.require("bookings", args["booking_id"], "booking")
    flight = state.require("flights", args["flight_id"], "flight")
    if booking["kind"] != "flight":
        raise ToolError(f"booking {booking['booking_id']} is a hotel stay, not a flight")
    if booking["status"] != "confirmed":
        raise ToolError(f"booking {booking['booking_id']} is {booking['status']}")
    if booking["cabin"] == "basic":
        raise ToolError(f"booking {booking['booking_id']} is a basic fare, which cannot be changed")
    if booking["flight_id"] == flight["flight_id"]:
        raise ToolError(f"booking {booking['booking_id']} is already on flight {flight['flight_number']}")
    if (flight["origin"], flight["destination"]) != (booking["origin"], booking["destination"]):
        raise ToolError(f"flight {flight['flight_number']} flies {flight['origin']}-{flight['destination']}, not {booking['origin']}-{booking['destination']}")
    if date.fromisoformat(flight["date"]) < _today(state):
        raise ToolError(f"flight {flight['flight_number']} on {flight['date']} has already departed")
    cabin = booking["cabin"]
    if flight["seats_left"][cabin] == 0:
        raise ToolError(f"{cabin} on flight {flight['flight_number']} ({flight['date']}) is sold out")
    old = state.get("flights", booking["flight_id"])
    state.update("flights", old["flight_id"], seats_left={**old["seats_left"], cabin: old["seats_left"][cabin] + 1})
    state.update("flights", flight["flight_id"], seats_left={**flight["seats_left"], cabin: flight["seats_left"][cabin] - 1})
    fare = flight["fares"][cabin]
    changed = state.update(
        "bookings",
        booking["booking_id"],
        flight_id=flight["flight_id"],
        flight_number=flight["flight_number"],
        date=flight["date"],
        amount=fare if booking["payment"] == "card" else booking["amount"],
    )
    return _public(changed)


TOOLS = toolbox.tools

# Seed generation: run once by ``environments.build``; the JSON it writes is what ships.

AIRPORTS = {
    "BOS": "Boston", "JFK": "New York", "ORD": "Chicago", "DEN": "Denver", "SFO": "San Francisco",
    "SEA": "Seattle", "LAX": "Los Angeles", "MIA": "Miami", "ATL": "Atlanta", "AUS": "Austin",
}
_AIRLINES = ["UA", "DL", "AA", "B6", "AS", "WN"]
_HOTEL_KINDS = ["Grand Hotel", "Inn", "Suites", "Lodge", "Plaza", "Harbor Hotel"]


def _clock(minutes: int) -> str:
    minutes %= 24 * 60
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def generate_seed(seed: int, today: str = "2026-03-16", travellers: int = 150, horizon_days: int = 21) -> dict[str, Any]:
    """A deterministic world: 150 travellers, ~20 routes x 3 weeks of flights, ~60 hotels, ~300 bookings."""
    fake = Faker("en_US")
    fake.seed_instance(seed)
    rng = random.Random(seed)
    current = date.fromisoformat(today)
    people = []
    for index in range(travellers):
        first, last = fake.first_name(), fake.last_name()
        people.append(
            {
                "traveller_id": f"T{1001 + index}",
                "name": f"{first} {last}",
                "email": f"{first.lower()}.{last.lower()}{index}@example.com".replace("'", ""),
                "loyalty_tier": rng.choices(TIERS, weights=[6, 3, 1])[0],
                "loyalty_points": rng.choice([0, rng.randint(1_000, 20_000), rng.randint(20_000, 90_000)]),
            }
        )
    codes = list(AIRPORTS)
    routes = rng.sample([(a, b) for a in codes for b in codes if a != b], 22)
    flights = []
    for origin, destination in routes:
        duration = rng.randint(70, 330)
        base = rng.randint(90, 320)
        for offset in range(-7, horizon_days):
            day_ = (current + timedelta(days=offset)).isoformat()
            for departs in sorted(rng.sample(range(6 * 60, 22 * 60, 15), rng.randint(1, 3))):
                economy = round(base * rng.uniform(0.8, 1.5), 2)
                flights.append(
                    {
                        "flight_id": f"FL{10001 + len(flights)}",
                        "flight_number": f"{rng.choice(_AIRLINES)}{rng.randint(100, 2999)}",
                        "origin": origin,
                        "destination": destination,
                        "date": day_,
                        "departs_at": _clock(departs),
                        "arrives_at": _clock(departs + duration),
                        "fares": {"basic": round(economy * 0.75, 2), "economy": economy, "business": round(economy * 3.1, 2)},
                        "seats_left": {"basic": rng.choice([0, 0, 2, 6]), "economy": rng.choice([0, 1, 4, 9, 20]), "business": rng.choice([0, 1, 3, 6])},
                    }
                )
    hotels = []
    for code, city in AIRPORTS.items():
        for _ in range(rng.randint(4, 8)):
            hotels.append(
                {
                    "hotel_id": f"H{101 + len(hotels)}",
                    "name": f"{fake.last_name()} {rng.choice(_HOTEL_KINDS)}",
                    "city": city,
                    "stars": rng.randint(2, 5),
                    "nightly_rate": round(rng.uniform(85, 420), 2),
                    "rooms_left": rng.choice([0, 1, 2, 5, 10]),
                }
            )
    bookings = []
    for traveller in rng.sample(people, 110):
        for _ in range(rng.randint(1, 4)):
            status = "cancelled" if rng.random() < 0.12 else "confirmed"
            booking_id = f"BK{20001 + len(bookings)}"
            booked_on = (current - timedelta(days=rng.randint(1, 40))).isoformat()
            if rng.random() < 0.6:
                flight = rng.choice(flights)
                cabin = rng.choices(CABINS, weights=[2, 6, 1])[0]
                payment = rng.choices(PAYMENTS, weights=[4, 1])[0]
                fare = flight["fares"][cabin]
                bookings.append(
                    {
                        "booking_id": booking_id, "traveller_id": traveller["traveller_id"], "kind": "flight", "status": status,
                        "date": flight["date"], "payment": payment, "amount": fare,
                        "points_used": math.ceil(fare * POINTS_PER_DOLLAR) if payment == "points" else 0,
                        "flight_id": flight["flight_id"], "flight_number": flight["flight_number"],
                        "origin": flight["origin"], "destination": flight["destination"], "cabin": cabin, "booked_on": booked_on,
                    }
                )
            else:
                hotel = rng.choice(hotels)
                check_in = current + timedelta(days=rng.randint(-7, horizon_days))
                nights = rng.randint(1, 5)
                payment = rng.choices(PAYMENTS, weights=[4, 1])[0]
                amount = round(hotel["nightly_rate"] * nights, 2)
                bookings.append(
                    {
                        "booking_id": booking_id, "traveller_id": traveller["traveller_id"], "kind": "hotel", "status": status,
                        "date": check_in.isoformat(), "payment": payment, "amount": amount,
                        "points_used": math.ceil(amount * POINTS_PER_DOLLAR) if payment == "points" else 0,
                        "hotel_id": hotel["hotel_id"], "hotel_name": hotel["name"], "city": hotel["city"],
                        "check_out": (check_in + timedelta(days=nights)).isoformat(), "booked_on": booked_on,
                    }
                )
    return {
        "domain": "travel",
        "context": {"today": today},
        "keys": {"travellers": "traveller_id", "flights": "flight_id", "hotels": "hotel_id", "bookings": "booking_id"},
        "tables": {"travellers": people, "flights": flights, "hotels": hotels, "bookings": bookings},
    }
