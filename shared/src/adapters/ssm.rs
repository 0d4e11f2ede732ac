//! The stage's feature-flag document in SSM Parameter Store: one `GetParameter`, made only when
//! the flag cache ([`crate::flags::LiveFlags`]) has expired.

use async_trait::async_trait;

use crate::error::AppError;
use crate::ports::FlagSource;

fn failure<E: std::error::Error + Send + Sync + 'static>(err: E) -> AppError {
    AppError::dependency(
        "the flags parameter",
        aws_sdk_ssm::error::DisplayErrorContext(err).to_string(),
    )
}

pub struct SsmFlagSource {
    client: aws_sdk_ssm::Client,
    name: String,
}

impl SsmFlagSource {
    pub fn new(client: aws_sdk_ssm::Client, name: String) -> Self {
        Self { client, name }
    }

    /// Replaces the document (the operators' `order-admin flags set`; no function writes it).
    pub async fn store(&self, document: &str) -> Result<(), AppError> {
        self.client
            .put_parameter()
            .name(&self.name)
            .value(document)
            .overwrite(true)
            .send()
            .await
            .map_err(failure)?;
        Ok(())
    }
}

#[async_trait]
impl FlagSource for SsmFlagSource {
    async fn fetch(&self) -> Result<String, AppError> {
        let read = self
            .client
            .get_parameter()
            .name(&self.name)
            .send()
            .await
            .map_err(failure)?;
        read.parameter
            .and_then(|p| p.value)
            .ok_or_else(|| AppError::internal("the flags parameter", "it has no value"))
    }
}
