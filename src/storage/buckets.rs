//! The operations on a bucket itself (bucket mode): whether it exists,
//! creating and deleting it, and the region a created one goes to.

use super::S3Store;
use super::StoreError;
use super::error::classify;

impl S3Store {
    /// The region the client signs for (where a created bucket goes).
    pub fn region(&self) -> Option<String> {
        self.client.config().region().map(|r| r.to_string())
    }

    /// HeadBucket: `true` when the bucket exists and this role may list it,
    /// `false` when it does not exist. A bucket of another account (or one
    /// this role may not list) is [`StoreError::Denied`].
    pub async fn bucket_exists(&self) -> Result<bool, StoreError> {
        let call = self.client.head_bucket().bucket(&self.bucket).send();
        match self.bounded(call).await?.map_err(classify) {
            Ok(_) => Ok(true),
            Err(StoreError::NotFound | StoreError::NoSuchBucket(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// CreateBucket in the client's region (outside us-east-1 S3 needs the
    /// region as the location constraint).
    pub async fn create_bucket(&self) -> Result<(), StoreError> {
        use aws_sdk_s3::types::{BucketLocationConstraint, CreateBucketConfiguration};
        let region = self.region().filter(|r| r != "us-east-1");
        let call = self
            .client
            .create_bucket()
            .bucket(&self.bucket)
            .set_create_bucket_configuration(region.map(|r| {
                CreateBucketConfiguration::builder()
                    .location_constraint(BucketLocationConstraint::from(r.as_str()))
                    .build()
            }))
            .send();
        self.bounded(call).await?.map_err(classify)?;
        Ok(())
    }

    /// DeleteBucket; S3 refuses one that holds objects
    /// ([`StoreError::BucketNotEmpty`]).
    pub async fn delete_bucket(&self) -> Result<(), StoreError> {
        let call = self.client.delete_bucket().bucket(&self.bucket).send();
        self.bounded(call).await?.map_err(classify)?;
        Ok(())
    }
}
