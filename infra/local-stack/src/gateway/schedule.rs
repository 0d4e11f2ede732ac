//! `Schedule` and `ScheduleV2` events: `rate(...)` fires at its rate; `cron(...)` is approximated
//! as once an hour locally, and the gateway says so when it starts.

use std::time::Duration;

use serde_json::{Value, json};
use serde_yaml_ng::Value as Yaml;

use super::event::{ACCOUNT, REGION};
use super::invoke::{Invoker, Outcome};
use crate::template::Template;

#[derive(Debug, Clone, PartialEq)]
pub struct Scheduled {
    pub function: String,
    pub expression: String,
    pub every: Duration,
    /// Whether `every` only approximates the expression.
    pub approximated: bool,
    pub input: Option<Value>,
}

/// `rate(5 minutes)` → 300 s.
pub fn parse_rate(expression: &str) -> Option<Duration> {
    let inner = expression.trim().strip_prefix("rate(")?.strip_suffix(')')?;
    let (count, unit) = inner.trim().split_once(' ')?;
    let count: u64 = count.parse().ok().filter(|n| *n > 0)?;
    let seconds = match unit.trim() {
        "minute" | "minutes" => 60,
        "hour" | "hours" => 3600,
        "day" | "days" => 86_400,
        _ => return None,
    };
    Some(Duration::from_secs(count * seconds))
}

pub fn schedules(template: &Template) -> Vec<Scheduled> {
    let mut found = Vec::new();
    for function in template.functions() {
        for (_, kind, props) in &function.events {
            let key = match kind.as_str() {
                "Schedule" => "Schedule",
                "ScheduleV2" => "ScheduleExpression",
                _ => continue,
            };
            let Some(expression) = props.get(key).and_then(Yaml::as_str) else {
                continue;
            };
            let (every, approximated) = match parse_rate(expression) {
                Some(every) => (every, false),
                None => (Duration::from_secs(3600), true),
            };
            let input = props
                .get("Input")
                .and_then(Yaml::as_str)
                .and_then(|s| serde_json::from_str(s).ok());
            found.push(Scheduled {
                function: function.binary.clone(),
                expression: expression.to_string(),
                every,
                approximated,
                input,
            });
        }
    }
    found
}

/// The EventBridge scheduled event, unless the schedule declares its own input.
pub fn event(schedule: &Scheduled, now: chrono::DateTime<chrono::Utc>) -> Value {
    schedule.input.clone().unwrap_or_else(|| {
        json!({
            "version": "0",
            "id": uuid::Uuid::new_v4().to_string(),
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": ACCOUNT,
            "time": now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            "region": REGION,
            "resources": [format!("arn:aws:events:{REGION}:{ACCOUNT}:rule/local-{}", schedule.function)],
            "detail": {},
        })
    })
}

/// Fires one schedule until the process ends (the first time one period after start).
pub async fn run(invoker: Invoker, schedule: Scheduled) {
    let mut ticks = tokio::time::interval(schedule.every);
    ticks.tick().await;
    loop {
        ticks.tick().await;
        let payload = event(&schedule, chrono::Utc::now());
        let status = match invoker.invoke(&schedule.function, &payload).await {
            Ok(Outcome::Returned(_)) => "ok".to_string(),
            Ok(Outcome::Failed(error)) => format!("failed: {error}"),
            Err(err) => format!("unreachable: {err:#}"),
        };
        println!(
            "SCHED {} -> {} {status}",
            schedule.expression, schedule.function
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_parse_and_nonsense_does_not() {
        assert_eq!(
            parse_rate("rate(5 minutes)"),
            Some(Duration::from_secs(300))
        );
        assert_eq!(parse_rate("rate(1 hour)"), Some(Duration::from_secs(3600)));
        assert_eq!(
            parse_rate("rate(2 days)"),
            Some(Duration::from_secs(172_800))
        );
        for bad in [
            "rate(0 minutes)",
            "rate(5 fortnights)",
            "cron(0 12 * * ? *)",
            "rate(x minutes)",
        ] {
            assert_eq!(parse_rate(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_scheduled_event_deserializes_as_an_eventbridge_event() {
        let schedule = Scheduled {
            function: "reconciler".into(),
            expression: "rate(5 minutes)".into(),
            every: Duration::from_secs(300),
            approximated: false,
            input: None,
        };
        let value = event(&schedule, chrono::Utc::now());
        let typed: aws_lambda_events::eventbridge::EventBridgeEvent =
            serde_json::from_value(value).unwrap();
        assert_eq!(typed.detail_type, "Scheduled Event");
        assert_eq!(typed.source, "aws.events");
    }

    #[test]
    fn cron_is_approximated_hourly_and_says_so() {
        let template = Template::parse(
            r#"
Resources:
  F:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/f
      Events:
        Nightly: { Type: Schedule, Properties: { Schedule: "cron(0 3 * * ? *)" } }
        Often: { Type: ScheduleV2, Properties: { ScheduleExpression: "rate(1 minute)", Input: '{"k":1}' } }
"#,
        )
        .unwrap();
        let found = schedules(&template);
        assert_eq!(found.len(), 2);
        assert!(found[0].approximated);
        assert_eq!(found[1].every, Duration::from_secs(60));
        assert_eq!(event(&found[1], chrono::Utc::now()), json!({"k": 1}));
    }
}
