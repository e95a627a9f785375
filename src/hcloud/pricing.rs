//! The price list (`GET /pricing`): what a server type, a load balancer type, a primary or
//! floating IP and a GB of snapshot cost per month in each location, so `plan` can say what
//! a cluster costs before anything is created.
//!
//! The wire model is the crate's `ListPricesResponse` (the OpenAPI `list_prices_response`);
//! prices stay the API's decimal strings here and are turned into numbers by the caller.

use hcloud::models::{IpType, ListPricesResponse, ListPricesResponsePricing, Price};

use super::client::{Call, Client};
use super::error::{Error, during};

/// The project's price list.
#[derive(Debug, Clone, PartialEq)]
pub struct Pricing(ListPricesResponsePricing);

impl Pricing {
    /// Wraps a price list as the API sent it.
    pub fn new(pricing: ListPricesResponsePricing) -> Pricing {
        Pricing(pricing)
    }

    /// The currency of every price (`EUR`).
    pub fn currency(&self) -> &str {
        &self.0.currency
    }

    /// The VAT rate the gross prices include, in percent (`19.00`).
    pub fn vat_rate(&self) -> &str {
        &self.0.vat_rate
    }

    /// The monthly price of server type `name` in `location`.
    pub fn server_type_monthly(&self, name: &str, location: &str) -> Option<&Price> {
        let server_type = self.0.server_types.iter().find(|t| t.name == name)?;
        at(&server_type.prices, location, |p| (&p.location, &*p.price_monthly))
    }

    /// The monthly price of load balancer type `name` in `location`.
    pub fn load_balancer_type_monthly(&self, name: &str, location: &str) -> Option<&Price> {
        let lb_type = self.0.load_balancer_types.iter().find(|t| t.name == name)?;
        at(&lb_type.prices, location, |p| (&p.location, &*p.price_monthly))
    }

    /// The monthly price of a primary IPv4 address in `location`.
    pub fn primary_ipv4_monthly(&self, location: &str) -> Option<&Price> {
        let ips = self.0.primary_ips.iter().find(|p| p.r#type == IpType::Ipv4)?;
        at(&ips.prices, location, |p| (&p.location, &*p.price_monthly))
    }

    /// The monthly price of a floating IPv4 address homed in `location`.
    pub fn floating_ipv4_monthly(&self, location: &str) -> Option<&Price> {
        let ips = self.0.floating_ips.iter().find(|p| p.r#type == IpType::Ipv4)?;
        at(&ips.prices, location, |p| (&p.location, &*p.price_monthly))
    }

    /// The price of a GB of snapshot per month.
    pub fn image_per_gb_month(&self) -> &Price {
        &self.0.image.price_per_gb_month
    }
}

/// The price of the entry of `prices` for `location` (`part` names an entry's location
/// and the price wanted).
fn at<'a, T>(prices: &'a [T], location: &str, part: impl Fn(&'a T) -> (&'a String, &'a Price)) -> Option<&'a Price> {
    prices
        .iter()
        .map(part)
        .find(|(at, _)| *at == location)
        .map(|(_, price)| price)
}

impl Client {
    /// The project's price list.
    ///
    /// # Errors
    /// [`Error::Request`] "while reading the price list".
    pub async fn pricing(&self) -> Result<Pricing, Error> {
        let answer: ListPricesResponse = self
            .request(&Call::get("/pricing"))
            .await
            .map_err(during("reading the price list"))?;
        Ok(Pricing(*answer.pricing))
    }
}
