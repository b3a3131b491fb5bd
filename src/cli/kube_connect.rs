//! A Kubernetes client as kubectl would make it: the kubeconfig (`--kubeconfig`, else
//! `$KUBECONFIG`, else `~/.kube/config`, else the in-cluster service account), its context
//! (`--context`) and its namespace (`-n`, else the context's).

use std::path::PathBuf;

use kube::config::{KubeConfigOptions, Kubeconfig};

/// kubectl's connection flags.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct KubeArgs {
    /// Path to the kubeconfig file (as kubectl's --kubeconfig).
    #[arg(long, global = true)]
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig context to use (as kubectl's --context).
    #[arg(long, global = true)]
    pub context: Option<String>,
    /// The namespace (as kubectl's -n); default: the context's, else `default`.
    #[arg(short = 'n', long, global = true)]
    pub namespace: Option<String>,
}

/// Why no client could be made.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("cannot read the kubeconfig {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: kube::config::KubeconfigError,
    },
    #[error("no usable Kubernetes configuration (kubeconfig or in-cluster): {0}")]
    Config(String),
    #[error("cannot make a Kubernetes client: {0}")]
    Client(#[source] kube::Error),
}

/// A client and the namespace to work in.
pub struct Connection {
    pub client: kube::Client,
    pub namespace: String,
}

impl KubeArgs {
    /// Connects as kubectl would with the same flags.
    pub async fn connect(&self) -> Result<Connection, ConnectError> {
        let options = KubeConfigOptions {
            context: self.context.clone(),
            ..KubeConfigOptions::default()
        };
        let config = match &self.kubeconfig {
            Some(path) => {
                let file = Kubeconfig::read_from(path).map_err(|source| ConnectError::Read {
                    path: path.clone(),
                    source,
                })?;
                kube::Config::from_custom_kubeconfig(file, &options).await
            }
            None if self.context.is_some() => kube::Config::from_kubeconfig(&options).await,
            None => return self.infer().await,
        }
        .map_err(|e| ConnectError::Config(e.to_string()))?;
        self.finish(config)
    }

    async fn infer(&self) -> Result<Connection, ConnectError> {
        let config = kube::Config::infer()
            .await
            .map_err(|e| ConnectError::Config(e.to_string()))?;
        self.finish(config)
    }

    fn finish(&self, config: kube::Config) -> Result<Connection, ConnectError> {
        let namespace = self
            .namespace
            .clone()
            .unwrap_or_else(|| config.default_namespace.clone());
        let client = kube::Client::try_from(config).map_err(ConnectError::Client)?;
        Ok(Connection { client, namespace })
    }
}
