# Executable specification of mclust's EM for the models whose M-step is itself iterative
# (VEI, VEV, VEE, EVE, VVE): a plain-R re-implementation of the Fortran loops of
# mclust 6.0.0 (src/mclust.f: mevei, mevev; src/mclustaddson.f: mevee, meeve, mevve),
# checked against mclust::me() from the default hc start. No output files.
#
# Run from the repository root:
#     Rscript tests/reference/mclust/inner_mstep_spec.R
# It prints, for faithful and iris, K = 2, 3, 4, controls "default", "tight" and "capped", the
# log-likelihood difference and whether the outer / inner iteration counts agree exactly
# (mine/mclust; a * marks a difference), and mclust's returnCode.
# Scope: no noise component, equalPro = FALSE, no prior (what the project implements).
# The failure paths (singular covariance, empty component) are not re-implemented.

suppressPackageStartupMessages(library(mclust))

FLMAX <- .Machine$double.xmax
gmean <- function(v) exp(sum(log(v)) / length(v))

# ---- inner M-step updates -------------------------------------------------------------
# Each takes the weighted scatter matrices W[, , k] (sum_i z_ik (x_i - mu_k)(x_i - mu_k)^T),
# n_k = sum_i z_ik, the state carried over from the previous outer EM iteration, the outer
# iteration number, and (tol2, itmax2) = (control$tol[2], control$itmax[2]). Returns the new
# state, the per-component covariances and the inner iteration count.

inner_VEI <- function(W, nk, st, iter, tol2, itmax2) {
  p <- dim(W)[1]; G <- length(nk)
  w <- sapply(seq_len(G), function(k) diag(W[, , k]))          # p x G diagonal scatter
  if (is.null(st)) st <- list(scale = rep(1, G), shape = rep(1, p))  # once, before EM
  scale <- st$scale; shape <- st$shape; inner <- 0
  if (itmax2 > 0) repeat {
    inner <- inner + 1
    scl <- scale; shp <- shape
    scale <- colSums(w / shape) / (p * nk)                     # uses current shape
    shape <- rowSums(sweep(w, 2, scale, "/"))                   # uses the new scale
    shape <- shape / gmean(shape)
    errin <- max(abs(scl - scale) / (1 + scale), abs(shp - shape) / (1 + shape))
    if (!(errin > tol2 && inner <= itmax2)) break               # note: <=, and > tol2
  }
  sigma <- array(sapply(seq_len(G), function(k) diag(scale[k] * shape, p)), c(p, p, G))
  list(state = list(scale = scale, shape = shape), sigma = sigma, inner = inner)
}

inner_VEV <- function(W, nk, st, iter, tol2, itmax2) {
  p <- dim(W)[1]; G <- length(nk); n <- sum(nk)
  # eigen-decomposition of each W_k, eigenvalues decreasing (mclust: SVD of the
  # Cholesky-type factor R_k, W_k = R_k^T R_k, omega = singular values^2, D_k = V)
  eig <- lapply(seq_len(G), function(k) { s <- svd(chol(W[, , k])); list(values = s$d^2, vectors = s$v) })
  omega <- sapply(eig, `[[`, "values")                          # p x G
  if (iter == 1) {                                              # first outer iteration only
    s <- rowSums(omega); g <- gmean(s)
    st <- list(scale = rep(g / n, G), shape = s / g)
  }
  scale <- st$scale; shape <- st$shape; inner <- 0
  if (itmax2 > 0) repeat {
    shp <- shape; scl <- scale
    scale <- colSums(omega / shp) / (p * nk)                    # from the old shape
    shape <- rowSums(sweep(omega, 2, scale, "/"))               # from the new scale
    inner <- inner + 1
    shape <- shape / gmean(shape)
    errin <- max(abs(shp - shape) / (1 + shape), abs(scale - scl) / (1 + scale))
    if (!(errin >= tol2 && inner < itmax2)) break               # note: >= tol2, and <
  }
  sigma <- array(sapply(seq_len(G), function(k) {
    D <- eig[[k]]$vectors; scale[k] * D %*% diag(shape, p) %*% t(D) }), c(p, p, G))
  list(state = list(scale = scale, shape = shape), sigma = sigma, inner = inner)
}

inner_VEE <- function(W, nk, st, iter, tol2, itmax2) {
  p <- dim(W)[1]; G <- length(nk)
  scale <- rep(1, G)                                            # re-initialised EVERY outer iteration
  inner <- 0; trgtprev <- FLMAX / 2
  repeat {
    inner <- inner + 1
    Cn <- Reduce(`+`, lapply(seq_len(G), function(k) W[, , k] / scale[k]))
    ev <- sort(eigen(Cn, symmetric = TRUE, only.values = TRUE)$values, decreasing = TRUE)
    g <- gmean(ev)                                              # det(Cn)^(1/p)
    C <- Cn / g
    Ci <- chol2inv(chol(C))
    scale <- sapply(seq_len(G), function(k) sum(W[, , k] * Ci)) / (p * nk)  # tr(W_k C^-1)/(p n_k)
    trgt <- sum(nk) * p + p * sum(log(scale) * nk)
    errin <- abs(trgt - trgtprev) / (1 + abs(trgt)); trgtprev <- trgt
    if (!(errin > tol2 && inner < itmax2)) break
  }
  sigma <- array(sapply(seq_len(G), function(k) scale[k] * C), c(p, p, G))
  list(state = NULL, sigma = sigma, inner = inner, shape = ev / g)
}

# EVE and VVE: D (orientation, columns = axes) and A_k (shape columns, det 1) are set to
# I and 1 on entry to me() and carried over between outer iterations.
mm_orientation <- function(W, A, D, omega) {
  G <- dim(W)[3]
  # MM 1 (Browne & McNicholas): F = sum_k A_k^-1 D^T W_k - omega_k A_k^-1 D^T, omega_k = max eig(W_k)
  F1 <- Reduce(`+`, lapply(seq_len(G), function(k) {
    T1 <- diag(1 / A[, k], nrow(D)) %*% t(D); T1 %*% W[, , k] - omega[k] * T1 }))
  s <- svd(F1); D <- s$v %*% t(s$u)                             # D = R P^T for F = P B R^T
  # MM 2: F = sum_k W_k D A_k^-1 - max_j(1/a_kj) W_k D
  F2 <- Reduce(`+`, lapply(seq_len(G), function(k) {
    WD <- W[, , k] %*% D; WD %*% diag(1 / A[, k], nrow(D)) - max(1 / A[, k]) * WD }))
  s <- svd(F2); s$u %*% t(s$v)                                  # D = P R^T
}

inner_EVE <- function(W, nk, st, iter, tol2, itmax2) {
  p <- dim(W)[1]; G <- length(nk)
  if (is.null(st)) st <- list(D = diag(p), A = matrix(1, p, G))
  D <- st$D; A <- st$A
  omega <- sapply(seq_len(G), function(k) max(eigen(W[, , k], symmetric = TRUE, only.values = TRUE)$values))
  inner <- 0; trgtprev <- FLMAX / 2
  repeat {
    inner <- inner + 1
    D <- mm_orientation(W, A, D, omega)
    A <- sapply(seq_len(G), function(k) { a <- diag(t(D) %*% W[, , k] %*% D); a / gmean(a) })
    trgt <- sum(sapply(seq_len(G), function(k) sum(diag(t(D) %*% W[, , k] %*% D) / A[, k])))
    errin <- abs(trgt - trgtprev) / (1 + abs(trgt)); trgtprev <- trgt
    if (!(errin > tol2 && inner < itmax2)) break
  }
  lambda <- trgt / (sum(nk) * p)
  sigma <- array(sapply(seq_len(G), function(k) lambda * D %*% diag(A[, k], p) %*% t(D)), c(p, p, G))
  list(state = list(D = D, A = A), sigma = sigma, inner = inner)
}

inner_VVE <- function(W, nk, st, iter, tol2, itmax2) {
  p <- dim(W)[1]; G <- length(nk)
  if (is.null(st)) st <- list(D = diag(p), A = matrix(1, p, G))
  D <- st$D; A <- st$A
  omega <- sapply(seq_len(G), function(k) max(eigen(W[, , k], symmetric = TRUE, only.values = TRUE)$values))
  inner <- 0; trgtprev <- FLMAX / 2
  repeat {
    inner <- inner + 1
    D <- mm_orientation(W, A, D, omega)                         # uses A_k only, NOT lambda_k A_k
    B <- sapply(seq_len(G), function(k) diag(t(D) %*% W[, , k] %*% D) / nk[k])
    lambda <- apply(B, 2, gmean)
    A <- sweep(B, 2, lambda, "/")
    trgt <- sum(sapply(seq_len(G), function(k) sum(diag(t(D) %*% W[, , k] %*% D) / A[, k])))
    errin <- abs(trgt - trgtprev) / (1 + abs(trgt)); trgtprev <- trgt
    if (!(errin > tol2 && inner < itmax2)) break
  }
  sigma <- array(sapply(seq_len(G), function(k) lambda[k] * D %*% diag(A[, k], p) %*% t(D)), c(p, p, G))
  list(state = list(D = D, A = A), sigma = sigma, inner = inner)
}

INNER <- list(VEI = inner_VEI, VEV = inner_VEV, VEE = inner_VEE, EVE = inner_EVE, VVE = inner_VVE)
# reported inner count: VEI, VEV = max over outer iterations; VEE, EVE, VVE = last outer iteration
INNER_REPORT <- c(VEI = "max", VEV = "max", VEE = "last", EVE = "last", VVE = "last")

# ---- outer EM loop, as in all of mclust's me* Fortran ----------------------------------
my_me <- function(X, z, model, control) {
  n <- nrow(X); p <- ncol(X); G <- ncol(z)
  tol1 <- control$tol[1]; tol2 <- control$tol[2]
  itmax1 <- control$itmax[1]; itmax2 <- control$itmax[2]
  prev <- FLMAX / 2; iter <- 0; st <- NULL; inmax <- 0
  repeat {
    iter <- iter + 1
    # M-step (starts from z: me() begins with an M-step)
    nk <- colSums(z); pro <- nk / n
    mu <- sapply(seq_len(G), function(k) colSums(z[, k] * X) / nk[k])
    W <- array(sapply(seq_len(G), function(k) {
      R <- sweep(X, 2, mu[, k]) * sqrt(z[, k]); crossprod(R) }), c(p, p, G))
    r <- INNER[[model]](W, nk, st, iter, tol2, itmax2)
    st <- r$state; inmax <- if (INNER_REPORT[[model]] == "max") max(inmax, r$inner) else r$inner
    # E-step
    logd <- sapply(seq_len(G), function(k) log(pro[k]) + mvnfast(X, mu[, k], r$sigma[, , k]))
    m <- apply(logd, 1, max)
    ll_i <- m + log(rowSums(exp(logd - m)))
    loglik <- sum(ll_i)
    z <- exp(logd - ll_i)
    err <- abs(loglik - prev) / (1 + abs(loglik)); prev <- loglik
    if (!(err > tol1 && iter < itmax1)) break
  }
  list(loglik = loglik, iterations = iter, inner = inmax, sigma = r$sigma)
}
mvnfast <- function(X, mu, S) {
  R <- chol(S); Y <- backsolve(R, t(X) - mu, transpose = TRUE)
  -0.5 * colSums(Y^2) - sum(log(diag(R))) - 0.5 * nrow(S) * log(2 * pi)
}

DATA <- list(faithful = as.matrix(datasets::faithful), iris = as.matrix(datasets::iris[, 1:4]))
CONTROLS <- list(default = emControl(), tight = emControl(tol = c(1e-12, 1e-12)),
                 # inner loop capped at 2 iterations: me() keeps the fit, returnCode 2,
                 # WARNING "inner iteration limit reached", inner count reported negated
                 capped = emControl(itmax = c(.Machine$integer.max, 2)))
bad <- 0
for (name in names(DATA)) {
  X <- DATA[[name]]
  tree <- hc(X, modelName = mclust.options("hcModelName"), use = mclust.options("hcUse"))
  for (K in 2:4) {
    z0 <- unmap(hclass(tree, K))
    for (model in names(INNER)) for (ctl in names(CONTROLS)) {
      ref <- suppressWarnings(me(X, modelName = model, z = z0, control = CONTROLS[[ctl]]))
      mine <- my_me(X, z0, model, CONTROLS[[ctl]])
      info <- attr(ref, "info")
      same_it <- abs(info[[1]]) == mine$iterations
      same_in <- abs(attr(info, "inner")[[1]]) == mine$inner
      dll <- mine$loglik - ref$loglik
      dsig <- max(abs(mine$sigma - ref$parameters$variance$sigma))
      ok <- abs(dll) < 1e-8 * abs(ref$loglik) && dsig < 1e-6
      if (!ok) bad <- bad + 1
      cat(sprintf("%-8s K=%d %s %-7s dloglik=% .2e  max|dSigma|=%.1e  outer %4d/%4d%s  inner %3d/%3d%s  rc=%d%s\n",
                  name, K, model, ctl, dll, dsig, mine$iterations, abs(info[[1]]), if (same_it) "" else "*",
                  mine$inner, abs(attr(info, "inner")[[1]]), if (same_in) "" else "*",
                  attr(ref, "returnCode"), if (ok) "" else "  MISMATCH"))
    }
  }
}
cat(sprintf("%d mismatches (log-likelihood to 1e-8 relative, Sigma to 1e-6); * = iteration count differs\n", bad))
