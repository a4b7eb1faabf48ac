//! Archives on S3 or an S3-compatible server (`s3://bucket/prefix`).
//!
//! The store is configured by the standard `AWS_*` environment variables as
//! `object_store` reads them (`AWS_ENDPOINT_URL`, `AWS_ACCESS_KEY_ID`,
//! `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`, `AWS_ALLOW_HTTP`, …), never by the plan, so
//! no secret sits in a file. Commits rely on S3's conditional writes (`If-None-Match`,
//! object_store's default for S3): of two writers committing the same version one
//! wins and the other retries on top of it, so concurrent writers need no lock table.
//! delta-rs knows only local stores by itself; [`register`] teaches it `s3://` with
//! this store and its default log store (no DynamoDB, no AWS SDK).

use std::sync::{Arc, Once};

use deltalake_core::DeltaResult;
use deltalake_core::logstore::{
    LogStore, LogStoreFactory, ObjectStoreFactory, ObjectStoreRef, StorageConfig, default_logstore,
    logstore_factories, object_store_factories,
};
use object_store::ObjectStore;
use object_store::aws::AmazonS3Builder;
use object_store::path::Path as StorePath;
use url::Url;

/// The URL scheme of archives on S3.
pub const SCHEME: &str = "s3";

/// The bucket of `url`, as a store configured from the environment, and the path of
/// `url` within it.
pub fn bucket_store(url: &Url) -> Result<(Arc<dyn ObjectStore>, StorePath), object_store::Error> {
    let store = AmazonS3Builder::from_env().with_url(url.as_str()).build()?;
    let path = StorePath::from_url_path(url.path())?;
    Ok((Arc::new(store), path))
}

/// Makes delta-rs open `s3://` tables with [`bucket_store`] (once per process).
pub fn register() {
    static REGISTER: Once = Once::new();
    REGISTER.call_once(|| {
        let scheme = Url::parse(&format!("{SCHEME}://")).expect("a valid scheme");
        object_store_factories().insert(scheme.clone(), Arc::new(S3Factory));
        logstore_factories().insert(scheme, Arc::new(S3Factory));
    });
}

/// delta-rs's factories for `s3://`: the bucket's store, and the default log store
/// (commits by conditional put).
struct S3Factory;

impl ObjectStoreFactory for S3Factory {
    fn parse_url_opts(
        &self,
        url: &Url,
        _config: &StorageConfig,
    ) -> DeltaResult<(ObjectStoreRef, StorePath)> {
        Ok(bucket_store(url)?)
    }
}

impl LogStoreFactory for S3Factory {
    fn with_options(
        &self,
        prefixed_store: ObjectStoreRef,
        root_store: ObjectStoreRef,
        location: &Url,
        options: &StorageConfig,
    ) -> DeltaResult<Arc<dyn LogStore>> {
        Ok(default_logstore(
            prefixed_store,
            root_store,
            location,
            options,
        ))
    }
}
