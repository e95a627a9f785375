//! `GET /pricing`: the price list, in the shape of the OpenAPI `list_prices_response`.
//!
//! Server and load balancer type prices are the very `prices` entries the catalogue shows
//! on `GET /server_types` and `GET /load_balancer_types`, so the two endpoints always
//! agree; the other prices are fixed illustrative values in the range of the public price
//! list (`catalog` says the same of its own figures).

use serde_json::{Value, json};

use super::catalog::{LOAD_BALANCER_TYPES, LOCATIONS, SERVER_TYPES};

/// The VAT rate the gross prices include (Germany), in percent.
pub const VAT_PERCENT: &str = "19.00";
/// Net monthly price of a primary IPv4 address, EUR.
pub const PRIMARY_IPV4_MONTHLY: f64 = 0.50;
/// Net monthly price of a floating IPv4 address, EUR.
pub const FLOATING_IPV4_MONTHLY: f64 = 3.00;
/// Net monthly price of a floating IPv6 network, EUR.
pub const FLOATING_IPV6_MONTHLY: f64 = 1.00;
/// Net price of a GB of snapshot per month, EUR.
pub const IMAGE_PER_GB_MONTH: f64 = 0.011;
/// Net price of a GB of volume per month, EUR.
pub const VOLUME_PER_GB_MONTH: f64 = 0.044;

/// Hours in a billing month, as the catalogue's hourly prices assume.
const HOURS_PER_MONTH: f64 = 730.0;
const VAT: f64 = 1.19;

/// `{net, gross}` for a net price, ten decimals like the live API.
fn price(net: f64) -> Value {
    json!({"net": format!("{net:.10}"), "gross": format!("{:.10}", net * VAT)})
}

/// The `{location, price_hourly, price_monthly}` entries of a per-location monthly price.
fn per_location(monthly: f64, hourly: bool) -> Vec<Value> {
    LOCATIONS
        .iter()
        .map(|location| {
            let mut entry = json!({"location": location.name, "price_monthly": price(monthly)});
            if hourly {
                entry["price_hourly"] = price(monthly / HOURS_PER_MONTH);
            }
            entry
        })
        .collect()
}

/// The body of `GET /pricing`.
pub fn list_prices() -> Value {
    let server_types: Vec<Value> = SERVER_TYPES
        .iter()
        .map(|t| json!({"id": t.id, "name": t.name, "prices": t.to_json()["prices"].clone()}))
        .collect();
    let load_balancer_types: Vec<Value> = LOAD_BALANCER_TYPES
        .iter()
        .map(|t| json!({"id": t.id, "name": t.name, "prices": t.to_json()["prices"].clone()}))
        .collect();
    json!({
        "pricing": {
            "currency": "EUR",
            "vat_rate": VAT_PERCENT,
            "floating_ip": {"price_monthly": price(FLOATING_IPV4_MONTHLY)},
            "floating_ips": [
                {"type": "ipv4", "prices": per_location(FLOATING_IPV4_MONTHLY, false)},
                {"type": "ipv6", "prices": per_location(FLOATING_IPV6_MONTHLY, false)},
            ],
            "primary_ips": [
                {"type": "ipv4", "prices": per_location(PRIMARY_IPV4_MONTHLY, true)},
                {"type": "ipv6", "prices": per_location(0.0, true)},
            ],
            "image": {"price_per_gb_month": price(IMAGE_PER_GB_MONTH)},
            "volume": {"price_per_gb_month": price(VOLUME_PER_GB_MONTH)},
            "server_backup": {"percentage": "20.00"},
            "server_types": server_types,
            "load_balancer_types": load_balancer_types,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_type_prices_are_the_catalogue_prices() {
        let body = list_prices();
        let cax11 = body["pricing"]["server_types"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == "cax11")
            .unwrap();
        let fsn1 = cax11["prices"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["location"] == "fsn1")
            .unwrap();
        assert_eq!(fsn1["price_monthly"]["net"], "3.7900000000");
        assert_eq!(fsn1["price_monthly"]["gross"], "4.5101000000");
        assert_eq!(
            body["pricing"]["primary_ips"][0]["prices"][0]["price_monthly"]["gross"],
            "0.5950000000"
        );
    }
}
