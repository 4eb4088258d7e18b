"""Unit conversions for gas readings and airflow (shipped with the bundle as a tool)."""

FACTORS = {
    ("percent", "ppm"): 10000.0,
    ("ppm", "percent"): 1e-4,
    ("m3/s", "cfm"): 2118.88,
    ("cfm", "m3/s"): 1 / 2118.88,
}


def convert(value: float, unit_from: str, unit_to: str) -> dict:
    if unit_from == unit_to:
        return {"value": value, "unit": unit_to}
    factor = FACTORS.get((unit_from, unit_to))
    if factor is None:
        return {"error": f"cannot convert {unit_from} to {unit_to}"}
    return {"value": round(value * factor, 6), "unit": unit_to}
